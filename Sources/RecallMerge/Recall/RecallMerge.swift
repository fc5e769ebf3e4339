import Foundation
import RecallTensor
import RecallModel

/// RECALL end to end for a one-shot merge: typical samples of the new task, representations of
/// every expert on the probe set, per-layer similarities and weights, and layer-wise fusion with
/// lambda fixed or chosen by the language-model loss of the merged model on the typical samples.
///
/// Candidates are the task experts (the last one is the new model); the base anchors the task
/// vectors. Everything measured goes into the `MergeReport`.
public struct RecallMerge {
    public enum Lambda: Equatable, Sendable {
        case fixed(Double)
        /// Try each value, keep the one whose merged model has the lowest loss.
        case auto([Double])
    }

    public struct Options: Sendable {
        public var clusters = 16
        public var seed: UInt64 = 0
        public var pooling: Pooling = .meanExcludingFirst
        public var similarity = LayerSimilarity()
        public var score: LayerWeighting.Score = .centrality
        public var temperature = 0.1
        public var lambda: Lambda = .auto(Options.defaultLambdaGrid)
        public var sparsify: LayerwiseFusion.Sparsify = .none
        public var outputDType: DType?
        /// Linear layers fused by RegMean with the per-layer weights scaling each task's Gram
        /// (`merge(statistics:)` then gives every expert's statistics); nil: task-vector fusion.
        public var regmean: RegMeanMerge.Options?
        public init() {}

        /// The lambdas `auto` tries (the option's default, `lambda=auto`, `merge --lambda auto`).
        public static let defaultLambdaGrid: [Double] = [1, 1.5, 2, 3]
    }

    public struct Expert {
        public let name: String
        public let weights: TensorSource
        /// The model's content hash, when it has one: the key of its cached representations.
        public let contentHash: String?
        /// The task this model is the expert of (matches probe samples' `task` for routing).
        public var task: String?
        public init(name: String, checkpoint: Checkpoint) {
            self.init(name: name, weights: checkpoint.weights, contentHash: nil)
        }
        public init(name: String, weights: TensorSource, contentHash: String?, task: String? = nil) {
            self.task = task
            self.name = name
            self.weights = weights
            self.contentHash = contentHash
        }
    }

    /// Phases reported while merging, in order.
    public enum Phase: String, Sendable { case select, represent, fuse }

    public struct Report: Sendable {
        public var typicalSamples: [(index: Int, text: String, clusterSize: Int)] = []
        public var probeCount = 0
        public var sigmas: [Double?] = []
        public var similarities: [[[Double]]] = []
        /// `weights[layer][expert]`.
        public var weights: [[Double]] = []
        public var lambdaLosses: [(lambda: Double, loss: Double)] = []
        public var lambda = 1.0
        public var experts: [String] = []
        /// Probe representations taken from the cache instead of a forward pass.
        public var cachedRepresentations = 0
        /// Wall seconds per step: embed (new model on the new samples), cluster (k-means), represent
        /// (every model on the probes), similarity (kernels and weights), fuse (merging, incl. the lambda search).
        public var seconds: [(step: String, seconds: Double)] = []

        public var json: JSONValue {
            .object([
                ("experts", .array(experts.map { .string($0) })),
                ("typical_samples", .array(typicalSamples.map { .object([("index", .int($0.index)), ("text", .string($0.text)), ("cluster_size", .int($0.clusterSize))]) })),
                ("probe_samples", .int(probeCount)),
                ("sigmas", .array(sigmas.map { $0.map { .number($0, integer: nil) } ?? .null })),
                ("weights", .array(weights.map { .array($0.map { .number($0, integer: nil) }) })),
                ("similarities", .array(similarities.map { .array($0.map { .array($0.map { .number($0, integer: nil) }) }) })),
                ("lambda_losses", .array(lambdaLosses.map { .object([("lambda", .number($0.lambda, integer: nil)), ("loss", .number($0.loss, integer: nil))]) })),
                ("lambda", .number(lambda, integer: nil)),
                ("cached_representations", .int(cachedRepresentations)),
                ("seconds", .object(seconds.map { ($0.step, .number($0.seconds, integer: nil)) })),
            ])
        }
    }

    public var options: Options
    public init(options: Options = Options()) { self.options = options }

    /// Merges `experts` over `base`. `newSamples` are the new task's (the last expert's) samples;
    /// `earlierProbes` the typical samples already kept for earlier tasks.
    public func merge(base: Checkpoint, experts: [Expert], newSamples: [Sample], earlierProbes: [Sample] = [],
                      tokenizer: Tokenizer) throws -> (merged: TensorSource, report: Report) {
        try merge(config: try base.modelConfig(), base: base.weights, experts: experts, newSamples: newSamples,
                  earlierProbes: earlierProbes, tokenizer: tokenizer)
    }

    /// The same over any tensor sources (stored checkpoints in the daemon). `cache` keeps pooled
    /// representations per (model, sample, layer) so no model runs twice on a sample; `progress`
    /// hears each phase with the fraction done within it. Models too large to decode into memory
    /// run from file-backed copies in `scratch` (`ForwardWeights`).
    public func merge(config: ModelConfig, base: TensorSource, experts: [Expert], newSamples: [Sample],
                      earlierProbes: [Sample] = [], tokenizer: Tokenizer, cache: RepresentationCache? = nil,
                      statistics: [ActivationStatistics]? = nil, scratch: URL = FileManager.default.temporaryDirectory,
                      progress: (Phase, Double) -> Void = { _, _ in }) throws -> (merged: TensorSource, report: Report) {
        guard let newest = experts.last else { throw RecallError(.invalidArgument, "RECALL needs at least one task model") }
        if options.regmean != nil, statistics?.count != experts.count {
            throw RecallError(.invalidArgument, "RECALL with RegMean fusion needs activation statistics for each of the \(experts.count) models")
        }
        var report = Report()
        report.experts = experts.map(\.name)

        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ step: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            report.seconds.append((step, Double(now - clock) / 1e9))
            clock = now
        }

        // 1. Typical samples of the new task, embedded by the new model (last layer, pooled).
        progress(.select, 0)
        let newModel = try LlamaModel(config: config, mapping: newest.weights, scratch: scratch, origin: newest.name)
        let newIDs = newSamples.map { tokenizer.encode($0.text) }
        let embedded = try newModel.hiddenStates(newIDs, options: ForwardOptions(pooling: options.pooling))
        let last = embedded.layerCount - 1
        let points = (0..<newIDs.count).map { Array(embedded.pooled(layer: last, sample: $0)) }
        lap("embed")
        let selection = try TypicalSampleSelector(clusters: options.clusters, seed: options.seed).select(points)
        lap("cluster")
        report.typicalSamples = zip(selection.medoids, selection.sizes).map { ($0, newSamples[$0].text, $1) }
        let typical = selection.medoids.map { newSamples[$0] }

        // 2-3. Probe set and every expert's representations on it (cached ones are not recomputed).
        progress(.represent, 0)
        let probes = typical + earlierProbes
        report.probeCount = probes.count
        let values = try represent(probes, experts: experts, config: config, newModel: newModel, tokenizer: tokenizer, cache: cache,
                                   scratch: scratch, cachedCount: &report.cachedRepresentations, progress: progress)
        lap("represent")

        // 4-5. Similarities and weights per layer.
        progress(.fuse, 0)
        try score(values, experts: experts, typicalCount: typical.count, earlierProbes: earlierProbes, report: &report)

        // 6. Fusion, with lambda fixed or chosen by the loss on the typical samples.
        lap("similarity")
        let fusion = try fuse(config: config, base: base, experts: experts, statistics: statistics, weights: report.weights,
                              typical: typical, tokenizer: tokenizer, scratch: scratch, progress: progress)
        report.lambda = fusion.lambda
        report.lambdaLosses = fusion.losses
        if case .auto = options.lambda { lap("fuse") }
        return (fusion.merged, report)
    }

    /// Every expert's pooled representations of every probe, `[expert][probe][layer]`: from
    /// `cache` when it has them, else from a forward pass (stored back into `cache`).
    func represent(_ probes: [Sample], experts: [Expert], config: ModelConfig, newModel: LlamaModel, tokenizer: Tokenizer,
                   cache: RepresentationCache?, scratch: URL, cachedCount: inout Int,
                   progress: (Phase, Double) -> Void) throws -> [[[[Float]]]] {
        let layerCount = config.numHiddenLayers + 1
        let poolingKey = "\(options.pooling)"
        var values: [[[[Float]]]] = []
        for (e, expert) in experts.enumerated() {
            var rows = [[[Float]]?](repeating: nil, count: probes.count)
            if let cache, let hash = expert.contentHash {
                for (s, probe) in probes.enumerated() {
                    rows[s] = try cache.representations(model: hash, sample: probe.text, pooling: poolingKey, layers: layerCount)
                }
            }
            let missing = rows.indices.filter { rows[$0] == nil }
            if !missing.isEmpty {
                let model = e == experts.count - 1 ? newModel
                    : try LlamaModel(config: config, mapping: expert.weights, scratch: scratch, origin: expert.name)
                let states = try model.hiddenStates(missing.map { tokenizer.encode(probes[$0].text) },
                                                    options: ForwardOptions(pooling: options.pooling))
                for (j, s) in missing.enumerated() {
                    let layers = (0..<states.layerCount).map { Array(states.pooled(layer: $0, sample: j)) }
                    rows[s] = layers
                    if let cache, let hash = expert.contentHash {
                        try cache.store(model: hash, sample: probes[s].text, pooling: poolingKey, layers)
                    }
                }
            }
            cachedCount += probes.count - missing.count
            values.append(rows.map { $0! })
            progress(.represent, Double(e + 1) / Double(experts.count))
        }
        return values
    }

    /// Similarities and the per-layer weights of every expert, into `report`. The probes are
    /// the new task's `typicalCount` typical samples followed by `earlierProbes`.
    func score(_ values: [[[[Float]]]], experts: [Expert], typicalCount: Int, earlierProbes: [Sample], report: inout Report) throws {
        let similarity = try options.similarity.compute(Representations(values))
        report.sigmas = similarity.sigmas
        report.similarities = similarity.matrices
        let weighting = LayerWeighting(score: options.score, temperature: options.temperature, newModel: experts.count - 1)
        if options.score == .routing {
            // Probe groups: the new task's typical samples belong to the new model; earlier probes
            // to the expert whose task they name. Probes of tasks without an expert here are skipped.
            var owner = [Int?](repeating: experts.count - 1, count: typicalCount)
            for p in earlierProbes { owner.append(p.task.flatMap { t in experts.lastIndex { $0.task == t } }) }
            var groups: [(expert: Int, matrices: [[[Double]]])] = []
            for e in Set(owner.compactMap { $0 }).sorted() {
                let rows = owner.indices.filter { owner[$0] == e }
                let sub = try options.similarity.compute(Representations(values.map { model in rows.map { model[$0] } }))
                groups.append((e, sub.matrices))
            }
            report.weights = try weighting.routingWeights(groups)
        } else {
            report.weights = try weighting.weights(similarity.matrices)
        }
    }

    /// Layer-wise fusion with the per-layer `weights`: at the fixed lambda (lazy: the fusion runs
    /// while the caller writes or stores the result), or at the lambda of the grid whose merged
    /// model has the lowest loss on the `typical` samples.
    func fuse(config: ModelConfig, base: TensorSource, experts: [Expert], statistics: [ActivationStatistics]?, weights: [[Double]],
              typical: [Sample], tokenizer: Tokenizer, scratch: URL,
              progress: (Phase, Double) -> Void) throws -> (merged: TensorSource, lambda: Double, losses: [(lambda: Double, loss: Double)]) {
        let baseModel = MergeModel(name: "base", source: base)
        let inputs = experts.map { MergeModel(name: $0.name, source: $0.weights) }
        func fused(_ lambda: Double) throws -> TensorSource {
            let fusion = LayerwiseFusion(lambda: lambda, sparsify: options.sparsify)
            let taskVectors = try MergedCheckpoint(try fusion.configuration(base: baseModel, models: inputs, weights: weights,
                                                                            outputDType: options.outputDType))
            guard let regmean = options.regmean, let statistics else { return taskVectors }
            // Decoder layer N takes representation layer N + 1's weights (as the task-vector fusion).
            return try RegMeanMerge(anchor: base, inputs: zip(experts, statistics).map { RegMeanMerge.Input(name: $0.name, weights: $0.weights, statistics: $1) },
                                    layerWeights: Array(weights.dropFirst()), fallback: taskVectors,
                                    options: regmean, outputDType: options.outputDType)
        }
        switch options.lambda {
        case let .fixed(v):
            return (try fused(v), v, [])
        case let .auto(grid):
            guard !grid.isEmpty else { throw RecallError(.invalidArgument, "lambda auto needs at least one value to try") }
            var losses: [(lambda: Double, loss: Double)] = []
            var best: (lambda: Double, loss: Double, source: TensorSource)?
            for lambda in grid {
                let merged = try fused(lambda)
                // Computed once per lambda: in memory when small, else written to a file-backed copy.
                let materialised = merged.totalBytes <= ForwardWeights.defaultBudget
                    ? MaterialisedSource(try merged.infos.map { try merged.tensor(named: $0.name) })
                    : try ForwardWeights.mapped(merged, scratch: scratch)
                let model = try LlamaModel(config: config, weights: materialised, origin: "merge (lambda \(lambda))")
                let loss = try languageModelLoss(model, typical, tokenizer: tokenizer)
                losses.append((lambda, loss))
                progress(.fuse, Double(losses.count) / Double(grid.count))
                if best == nil || loss < best!.loss { best = (lambda, loss, materialised) }
            }
            return (best!.source, best!.lambda, losses)
        }
    }

    /// Mean negative log-likelihood per token: of the answer given the prompt when a sample has
    /// both, else of every token after the first.
    func languageModelLoss(_ model: LlamaModel, _ samples: [Sample], tokenizer: Tokenizer) throws -> Double {
        let pairs: [(prompt: [Int], continuation: [Int])] = samples.compactMap { s in
            if let prompt = s.prompt, let answer = s.answer {
                let p = tokenizer.encode(prompt), full = tokenizer.encode(prompt + answer)
                let shared = max(1, zip(p, full).prefix { $0 == $1 }.count)
                return full.count > shared ? (Array(full[..<shared]), Array(full[shared...])) : nil
            }
            let ids = tokenizer.encode(s.text)
            return ids.count > 1 ? ([ids[0]], Array(ids[1...])) : nil
        }
        guard !pairs.isEmpty else { throw RecallError(.invalidArgument, "lambda auto: the typical samples have no tokens to score") }
        let logps = try model.logProbabilities(pairs)
        let total = logps.reduce(0.0) { $0 - $1.reduce(0.0) { $0 + Double($1) } }
        return total / Double(logps.reduce(0) { $0 + $1.count })
    }
}

/// Tensors held in memory, as a `TensorSource` (a merge result computed once).
public final class MaterialisedSource: TensorSource, @unchecked Sendable {
    public let tensors: [TensorView]
    private let index: [String: Int]
    public init(_ tensors: [TensorView]) {
        self.tensors = tensors
        index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }
    public var infos: [TensorInfo] { tensors.map(\.info) }
    public var metadata: [(String, String)] { [] }
    public func tensor(named name: String) throws -> TensorView {
        guard let i = index[name] else { throw RecallError(.notFound, "merged model has no tensor \(name)") }
        return tensors[i]
    }
}

/// Where RECALL keeps pooled representations between merges: every layer of one model on one
/// sample under one pooling. The blob store implements it in LMDB.
public protocol RepresentationCache {
    func representations(model: String, sample: String, pooling: String, layers: Int) throws -> [[Float]]?
    func store(model: String, sample: String, pooling: String, _ layers: [[Float]]) throws
}
