import Foundation

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
        public var lambda: Lambda = .auto([1, 1.5, 2, 3])
        public var sparsify: LayerwiseFusion.Sparsify = .none
        public var outputDType: DType?
        public init() {}
    }

    public struct Expert {
        public let name: String
        public let checkpoint: Checkpoint
        public init(name: String, checkpoint: Checkpoint) {
            self.name = name
            self.checkpoint = checkpoint
        }
    }

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
            ])
        }
    }

    public var options: Options
    public init(options: Options = Options()) { self.options = options }

    /// Merges `experts` over `base`. `newSamples` are the new task's (the last expert's) samples;
    /// `earlierProbes` the typical samples already kept for earlier tasks.
    public func merge(base: Checkpoint, experts: [Expert], newSamples: [Sample], earlierProbes: [Sample] = [],
                      tokenizer: Tokenizer) throws -> (merged: TensorSource, report: Report) {
        guard let newest = experts.last else { throw RecallError(.invalidArgument, "RECALL needs at least one task model") }
        var report = Report()
        report.experts = experts.map(\.name)
        let config = try base.modelConfig()

        // 1. Typical samples of the new task, embedded by the new model (last layer, pooled).
        let newModel = try LlamaModel(config: config, weights: newest.checkpoint.weights, origin: newest.name)
        let newIDs = newSamples.map { tokenizer.encode($0.text) }
        let embedded = try newModel.hiddenStates(newIDs, options: ForwardOptions(pooling: options.pooling))
        let last = embedded.layerCount - 1
        let points = (0..<newIDs.count).map { Array(embedded.pooled(layer: last, sample: $0)) }
        let selection = try TypicalSampleSelector(clusters: options.clusters, seed: options.seed).select(points)
        report.typicalSamples = zip(selection.medoids, selection.sizes).map { ($0, newSamples[$0].text, $1) }
        let typical = selection.medoids.map { newSamples[$0] }

        // 2-3. Probe set and every expert's representations on it.
        let probes = typical + earlierProbes
        report.probeCount = probes.count
        let probeIDs = probes.map { tokenizer.encode($0.text) }
        var values: [[[[Float]]]] = []
        for expert in experts {
            let model = expert.checkpoint === newest.checkpoint ? newModel
                : try LlamaModel(config: config, weights: expert.checkpoint.weights, origin: expert.name)
            let states = try model.hiddenStates(probeIDs, options: ForwardOptions(pooling: options.pooling))
            values.append((0..<probeIDs.count).map { s in (0..<states.layerCount).map { Array(states.pooled(layer: $0, sample: s)) } })
        }

        // 4-5. Similarities and weights per layer.
        let similarity = try options.similarity.compute(Representations(values))
        report.sigmas = similarity.sigmas
        report.similarities = similarity.matrices
        report.weights = try LayerWeighting(score: options.score, temperature: options.temperature, newModel: experts.count - 1)
            .weights(similarity.matrices)

        // 6. Fusion, with lambda fixed or chosen by the loss on the typical samples.
        let baseModel = MergeModel(name: "base", source: base.weights)
        let inputs = experts.map { MergeModel(name: $0.name, source: $0.checkpoint.weights) }
        func fused(_ lambda: Double) throws -> MergedCheckpoint {
            let fusion = LayerwiseFusion(lambda: lambda, sparsify: options.sparsify)
            return try MergedCheckpoint(try fusion.configuration(base: baseModel, models: inputs, weights: report.weights,
                                                                 outputDType: options.outputDType))
        }
        switch options.lambda {
        case let .fixed(v):
            report.lambda = v
            return (try fused(v), report)
        case let .auto(grid):
            guard !grid.isEmpty else { throw RecallError(.invalidArgument, "lambda auto needs at least one value to try") }
            var best: (lambda: Double, loss: Double, source: TensorSource)?
            for lambda in grid {
                let merged = try fused(lambda)
                let materialised = MaterialisedSource(try merged.infos.map { try merged.tensor(named: $0.name) })
                let model = try LlamaModel(config: config, weights: materialised, origin: "merge (lambda \(lambda))")
                let loss = try languageModelLoss(model, typical, tokenizer: tokenizer)
                report.lambdaLosses.append((lambda, loss))
                if best == nil || loss < best!.loss { best = (lambda, loss, materialised) }
            }
            report.lambda = best!.lambda
            return (best!.source, report)
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
