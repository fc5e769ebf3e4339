import Foundation
import RecallTensor
import RecallModel
import RecallMerge
import RecallStore
import RecallAPI

/// One register job through its phases, in order: store -> statistics -> (select, represent,
/// fuse) -> store-merged -> evaluate -> commit. Each phase is a method with a typed result; the
/// job row records progress and what finished phases produced (the stored task model), so a
/// job a dead daemon left behind resumes without storing the task model again.
struct RegisterPipeline {
    let registry: Registry
    /// The job row's id.
    let id: Int
    let job: RegisterJob
    let settings: RegistrySettings
    let plan: MergePlan
    /// The base: record, weights, config, and the job's one tokenizer.
    let base: RegistryBase
    let parentVersion: Int
    /// The version the new model was fine-tuned from, and its weights (an adapter is applied there).
    var trainedFrom: Int { job.trainedFromVersion }
    let origin: StoredCheckpoint
    private var state: [(String, JSONValue)]

    var request: RegisterRequest { job.request }
    var provenance: ProvenanceStore { registry.store.provenance }
    var store: RegistryStore { registry.store }
    var baseRecord: ModelRecord { base.record }
    var config: ModelConfig { base.config }
    /// Where models too large to decode into memory get their file-backed copy for a forward pass.
    var scratch: URL { registry.cache }

    /// `record` is the job's row: its id, and what a previous run of it recorded (`result`).
    init(registry: Registry, record: JobRecord, job: RegisterJob) throws {
        self.registry = registry
        id = record.id
        self.job = job
        settings = try registry.settings()
        plan = try MergePlan(method: settings.method.rawValue, options: settings.options)
        state = record.result?.objectValue ?? []
        let provenance = registry.store.provenance
        base = try RegistryBase(store: registry.store, settings: settings)
        parentVersion = try job.request.parent.map { try provenance.resolve($0) } ?? (try provenance.head()) ?? 1
        origin = try registry.trainedFromCheckpoint(job.trainedFromVersion, base: base.weights)
    }

    /// An input of the merge: a stored model, its role (`expert`, `head`, `new`) and its weights.
    struct Input {
        let model: ModelRecord
        let role: InputRole
        let weights: StoredCheckpoint
    }

    /// What the fuse phase made: the merged weights (lazy) and what the version records of it.
    struct Fusion {
        var merged: TensorSource
        var detail = VersionDetail()
        var options: [(String, JSONValue)] = []
        var typical: [(text: String, clusterSize: Int)] = []
    }

    mutating func run() throws -> JSONValue {
        let newModel: ModelRecord, newWeights: StoredCheckpoint
        switch try storeTaskModel() {
        case let .existing(reply): return reply
        case let .stored(model, weights): (newModel, newWeights) = (model, weights)
        }
        let inputs = try mergeInputs(newModel, weights: newWeights)
        let statistics = try activationStatistics(inputs)
        let fusion = try fuse(inputs, statistics: statistics)
        let merged = try storeMerged(fusion.merged, newModel: newModel)
        let (mergedModel, stats) = (merged.record, merged.stats)
        try keepRunningSum(statistics, of: mergedModel)
        let scores = try evaluate(merged.checkpoint)
        let gateReason = try gate(scores)
        let version = try commit(fusion, newModel: newModel, mergedModel: mergedModel, scores: scores, gateReason: gateReason)
        return .object([("existing", .bool(false)), ("model_id", .int(newModel.id)), ("version", .int(version)),
                        ("merged_model_id", .int(mergedModel.id)), ("stored_bytes", .int(stats.storedBytes)),
                        ("raw_bytes", .int(stats.rawBytes)),
                        // Tensors taken over from stored models without reading them: work proportional to what changed.
                        ("reused_tensors", .object([("task_model", state.first { $0.0 == "task_reused_tensors" }?.1 ?? .null),
                                                    ("merged_model", .int(stats.reusedTensors))])),
                        ("gated", .bool(gateReason != nil)),
                        ("gate_reason", gateReason.map { .string($0) } ?? .null),
                        ("evaluations", .object(scores.map { ($0.task, .number($0.result.accuracy, integer: nil)) }))])
    }

    func report(_ phase: String, _ fraction: Double, record: Bool = false) throws {
        if fraction == 0, registry.phaseDelay > 0 { Thread.sleep(forTimeInterval: registry.phaseDelay) }
        let span = Registry.phaseSpans[phase] ?? (0, 1)
        try registry.recordProgress(id, phase: phase, progress: span.0 + (span.1 - span.0) * fraction,
                                    result: record ? .object(state) : nil)
    }

    // MARK: store

    enum Stored {
        /// The task model and its stored weights.
        case stored(ModelRecord, StoredCheckpoint)
        /// Identical content already registered: the job's reply, no new version.
        case existing(JSONValue)
    }

    /// The task model into the store (skipped when a previous run of this job stored it).
    mutating func storeTaskModel() throws -> Stored {
        try report("store", 0)
        if let id = state.first(where: { $0.0 == "task_model_id" })?.1.intValue, let m = try provenance.model(id: id) {
            // Killed between the version's commit and the job's finish: the version exists, so the
            // resumed job reports it instead of merging the task a second time. It is this job's
            // version (not `existing`, which means identical content registered by another job).
            if let committed = try provenance.versionMerging(modelID: m.id) {
                let record = try provenance.version(committed)
                return .existing(.object([("existing", .bool(false)), ("model_id", .int(m.id)), ("version", .int(committed)),
                                          ("gated", .bool(record?.gated ?? false)), ("gate_reason", record?.gateReason.map { .string($0) } ?? .null),
                                          ("message", .string("version \(committed) was committed before the restart"))]))
            }
            return .stored(m, try store.checkpoint(of: m))
        }
        try InputFingerprint.check(job.fingerprint, of: job.resolved, named: request.model)
        // Checked at submit; opened as the format found then (a GGUF file was imported then).
        let candidate = try ModelIntake.reopen(job.resolved, format: job.format, trainedFrom: origin)
        let name = request.name ?? URL(fileURLWithPath: request.model).lastPathComponent
        // The model it was fine-tuned from (and an adapter applied to): its task vector's anchor.
        let parentModel = try provenance.version(trainedFrom).map(\.modelID) ?? settings.baseModelID
        // The put scans what is new for NaN/Inf (the request checked only names, shapes and
        // dtypes) and leaves the store as it was when it finds one.
        let stored: RegistryStore.StoredModel
        do {
            stored = try withExtendedLifetime(candidate) {
                try store.storeModel(candidate.weights, kind: .task, name: name, task: request.task,
                                     sourcePath: request.model, format: job.format,
                                     architecture: baseRecord.architecture, parentID: parentModel)
            }
        } catch let e as NonFiniteTensorError {
            throw e.error(file: request.model)
        }
        let (m, putStats, created) = (stored.record, stored.stats, stored.created)
        if !created, let existing = try provenance.versionMerging(modelID: m.id) {
            return .existing(.object([("existing", .bool(true)), ("model_id", .int(m.id)), ("version", .int(existing)),
                                      ("message", .string("identical content is already registered (model \(m.id)); no new version"))]))
        }
        if m.id == baseRecord.id { throw RecallError(.invalidArgument, "\(request.model): is the base model itself; register a fine-tuned model") }
        state.append(("task_model_id", .int(m.id)))
        state.append(("task_reused_tensors", .int(putStats.reusedTensors)))
        try report("store", 1, record: true)
        return .stored(m, stored.checkpoint)
    }

    // MARK: inputs

    /// The experts scenario merges every task's latest expert; sequential merges head + new.
    /// `weights` is the new model's, as the store phase wrote it.
    func mergeInputs(_ newModel: ModelRecord, weights: StoredCheckpoint) throws -> [Input] {
        var models: [(model: ModelRecord, role: InputRole)] = []
        // OPCM merges the new task onto the head in either scenario (it is sequential by design).
        var isOPCM = false
        if case .opcm = plan.kind { isOPCM = true }
        switch isOPCM ? .sequential : settings.scenario {
        case .experts:
            for i in try provenance.detail(of: parentVersion).inputs where i.role == .expert || i.role == .new {
                guard let m = try provenance.model(id: i.modelID), m.task != request.task, m.id != newModel.id else { continue }
                models.append((m, .expert))
            }
        case .sequential:
            if parentVersion != 1, let v = try provenance.version(parentVersion), let m = try provenance.model(id: v.modelID) {
                models.append((m, .head))
            }
        }
        models.sort { $0.model.id < $1.model.id }
        return try models.map { Input(model: $0.model, role: $0.role, weights: try store.checkpoint(of: $0.model)) }
            + [Input(model: newModel, role: .new, weights: weights)]
    }

    // MARK: statistics

    /// RegMean's Gram sketches: the new model's on its task's samples, every other input's from
    /// the cache (a head's is the running sum kept at its merge). Nil when the method needs none.
    func activationStatistics(_ inputs: [Input]) throws -> [ActivationStatistics]? {
        guard let recipe = plan.statistics else { return nil }
        try report("statistics", 0)
        let samplesHash = job.samplesHash
        let statistics = try inputs.map { input in
            // A head's Gram is the running sum kept at its merge; a task model's, its own samples'
            // (recomputed for the new model when it comes with other samples than last time).
            let key = input.role == .head ? recipe.runningSumKey : recipe.key
            let sameSamples = input.role != .new ? true : try store.blobs.statisticsSamples(model: input.model.contentHash, recipe: key) == samplesHash
            if sameSamples, let cached = try store.blobs.statistics(model: input.model.contentHash, recipe: key, layers: config.numHiddenLayers) {
                return cached
            }
            guard input.role == .new else {
                throw RecallError(.notFound, "activation statistics of model \(input.model.id) (\(input.model.name)) are not in the store; register that task again (its samples feed them)")
            }
            let samples = job.samples.prefix(recipe.samples)
            let tokenizer = try base.tokenizer()
            let model = try LlamaModel(config: config, mapping: input.weights, scratch: scratch, origin: input.model.name)
            let collected = try ActivationStatistics.collect(model, batch: samples.map { tokenizer.encode($0.text) }, rank: recipe.rank)
            try store.blobs.store(model: input.model.contentHash, recipe: recipe.key, collected, samples: samplesHash)
            return collected
        }
        try report("statistics", 1)
        return statistics
    }

    /// In the sequential loop the merged model keeps `S_t = S_(t-1) + G_t`: the head's Gram for the
    /// next register (the running-sum update equals a one-shot RegMean over every task).
    func keepRunningSum(_ statistics: [ActivationStatistics]?, of merged: ModelRecord) throws {
        guard let recipe = plan.statistics, let statistics, settings.scenario == .sequential,
              try store.blobs.statistics(model: merged.contentHash, recipe: recipe.runningSumKey, layers: config.numHiddenLayers) == nil else { return }
        try store.blobs.store(model: merged.contentHash, recipe: recipe.runningSumKey, try ActivationStatistics.sum(statistics, rank: recipe.rank), samples: "")
    }

    // MARK: fuse

    /// Task vectors are taken against the model the new one was fine-tuned from. In the
    /// sequential scenario that is the parent (head): anchoring at the base instead would
    /// rescale everything learned before by lambda at every step (B + lambda (H - B) + ...).
    var anchor: StoredCheckpoint { settings.scenario == .sequential ? origin : base.weights }

    func fuse(_ inputs: [Input], statistics: [ActivationStatistics]?) throws -> Fusion {
        var fusion: Fusion
        switch plan.kind {
        case let .recall(options, probeNewOnly):
            fusion = try fuseByRecall(inputs, options: options, probeNewOnly: probeNewOnly, statistics: statistics)
        case let .regmean(options, dtype):
            fusion = try fuseByRegMean(inputs, options: options, dtype: dtype, statistics: statistics ?? [])
        case let .opcm(alpha, dtype):
            fusion = try fuseByOPCM(inputs, alpha: alpha, dtype: dtype)
        case let .baseline(method, perModel, global, seed, dtype):
            try report("fuse", 0)
            let models = inputs.map { MergeModel(name: $0.model.name, source: $0.weights, parameters: perModel) }
            // MagMax compares cumulative task vectors, all against the pre-trained model (its paper's setting).
            let reference = method.name == MagMaxMerge().name ? base.weights : anchor
            fusion = Fusion(merged: try MergedCheckpoint(MergeConfiguration(
                method: method, base: method.needsBase ? MergeModel(name: baseRecord.name, source: reference) : nil,
                models: models, parameters: global, outputDType: dtype, seed: seed)))
            // Uniform by construction: the same weight for every model at every layer.
            let w = 1.0 / Double(models.count)
            for l in 0...config.numHiddenLayers + 1 { for i in inputs { fusion.detail.layerWeights.append((l, i.model.id, w)) } }
        }
        fusion.detail.inputs = [(baseRecord.id, .base)] + inputs.map { ($0.model.id, $0.role) }
        fusion.options = [("options", settings.json["options"] ?? .object([])), ("scenario", .string(settings.scenario.rawValue)),
                          ("trained_from", .int(trainedFrom))] + fusion.options
        return fusion
    }

    func fuseByRecall(_ inputs: [Input], options: RecallMerge.Options, probeNewOnly: Bool,
                      statistics: [ActivationStatistics]?) throws -> Fusion {
        let tokenizer = try base.tokenizer()
        let samples = job.samples
        let earlier = probeNewOnly ? [] : try provenance.typicalSamples(excludingTask: request.task)
            .map { Sample(text: $0.text, prompt: nil, answer: nil, choices: nil, line: 0, task: $0.task) }
        let (source, report) = try RecallMerge(options: options).merge(
            config: config, base: anchor,
            experts: inputs.map { RecallMerge.Expert(name: $0.model.name, weights: $0.weights, contentHash: $0.model.contentHash, task: $0.model.task) },
            newSamples: samples, earlierProbes: earlier, tokenizer: tokenizer, cache: store.blobs, statistics: statistics, scratch: scratch,
            progress: { phase, fraction in
                // The merge goes on without it; a disk that cannot take progress fails the next phase's write.
                do { try self.report(phase.rawValue, fraction) } catch {
                    self.registry.log("job \(self.id): cannot record \(phase.rawValue) progress: \(error)")
                }
            })
        var fusion = Fusion(merged: source)
        for (l, row) in report.weights.enumerated() {
            for (e, w) in row.enumerated() { fusion.detail.layerWeights.append((l, inputs[e].model.id, w)) }
        }
        for (l, matrix) in report.similarities.enumerated() {
            for i in matrix.indices { for j in matrix.indices where j > i {
                fusion.detail.similarities.append((l, inputs[i].model.id, inputs[j].model.id, matrix[i][j], report.sigmas[l]))
            } }
        }
        fusion.typical = report.typicalSamples.map { ($0.text, $0.clusterSize) }
        fusion.options = [("lambda", .number(report.lambda, integer: nil)), ("lambda_losses", report.json["lambda_losses"] ?? .null),
                          ("probe_samples", .int(report.probeCount)), ("cached_representations", .int(report.cachedRepresentations)),
                          ("seconds", report.json["seconds"] ?? .null)]
        if let r = options.regmean, let recipe = plan.statistics {
            fusion.options += [("alpha", .number(r.alpha, integer: nil)), ("ridge", .number(r.ridge, integer: nil)), ("statistics", .string(recipe.key))]
        }
        return fusion
    }

    /// Plain RegMean. Tensors it does not solve (embeddings, norms, lm_head) take the mean of the
    /// task vectors: over the experts, or in the sequential loop the head's share of the tasks so
    /// far against the new one's (t - 1 : 1), as a one-shot mean over every task would.
    func fuseByRegMean(_ inputs: [Input], options: RegMeanMerge.Options, dtype: DType?,
                       statistics: [ActivationStatistics]) throws -> Fusion {
        try report("fuse", 0)
        let tasksSoFar = try registry.lineageLength(parentVersion) + 1
        let shares = inputs.map { $0.role == .head ? Double(tasksSoFar - 1) / Double(tasksSoFar)
            : settings.scenario == .sequential ? 1 / Double(tasksSoFar) : 1 / Double(inputs.count) }
        let fallback = try MergedCheckpoint(MergeConfiguration(
            method: GeneralizedTaskArithmetic.taskArithmetic, base: MergeModel(name: "anchor", source: anchor),
            models: zip(inputs, shares).map { MergeModel(name: $0.model.name, source: $0.weights, parameters: ["weight": .scalar($1)]) },
            parameters: ["lambda": .scalar(1)], outputDType: dtype))
        var fusion = Fusion(merged: try RegMeanMerge(
            anchor: anchor, inputs: zip(inputs, statistics).map { RegMeanMerge.Input(name: $0.model.name, weights: $0.weights, statistics: $1) },
            fallback: fallback, options: options, outputDType: dtype))
        for l in 0...config.numHiddenLayers + 1 { for (i, w) in zip(inputs, shares) { fusion.detail.layerWeights.append((l, i.model.id, w)) } }
        fusion.options = [("alpha", .number(options.alpha, integer: nil)), ("ridge", .number(options.ridge, integer: nil)),
                          ("statistics", .string(plan.statistics?.key ?? ""))]
        return fusion
    }

    /// OPCM: the new task vector (against the base, as in the paper, in either scenario) projected
    /// away from the head's merged update; the head's λ and task-vector norms come from its
    /// version's options (`opcm`), the new ones are recorded in this version's.
    func fuseByOPCM(_ inputs: [Input], alpha: Double, dtype: DType?) throws -> Fusion {
        try report("fuse", 0)
        guard let new = inputs.last(where: { $0.role == .new }) else { throw RecallError(.invalidArgument, "opcm: no new model to merge") }
        var previous: (source: TensorSource, state: OPCMMerge.State)?
        if let head = inputs.first(where: { $0.role == .head }) {
            let options = try (try provenance.version(parentVersion)).map { try JSONValue.parse(Data($0.optionsJSON.utf8), rejectDuplicateKeys: false) }
            guard let state = OPCMMerge.State(json: options?["opcm"]) else {
                throw RecallError(.invalidArgument, "opcm: version \(parentVersion) was not merged by opcm (its options hold no opcm state); register onto an opcm version")
            }
            previous = (head.weights, state)
        }
        let merge = try OPCMMerge(base: base.weights, tasks: [OPCMMerge.Task(name: new.model.name, source: new.weights)], previous: previous,
                                  alpha: alpha, outputDType: dtype)
        var fusion = Fusion(merged: merge)
        let w = 1.0 / Double(inputs.count)
        for l in 0...config.numHiddenLayers + 1 { for i in inputs { fusion.detail.layerWeights.append((l, i.model.id, w)) } }
        fusion.options = [("alpha", .number(alpha, integer: nil)), ("opcm", merge.state.json)]
        return fusion
    }

    // MARK: store-merged, evaluate, gate, commit

    /// The merged weights with the base's config and tokenizer files (from the store, as stored
    /// with the base); returns what was stored, weights included, for the evaluate phase.
    func storeMerged(_ merged: TensorSource, newModel: ModelRecord) throws -> RegistryStore.StoredModel {
        try report("store-merged", 0)
        let files = try base.weights.sideFiles().filter { !$0.name.hasPrefix(".") }
        return try store.storeModel(merged, files: files, kind: .merged, name: "\(settings.method) + \(request.task)",
                                    task: request.task, sourcePath: nil, format: .merged,
                                    architecture: baseRecord.architecture, parentID: newModel.id)
    }

    /// Every watched task (and the new one's eval items) on the merged model.
    func evaluate(_ merged: StoredCheckpoint) throws -> [(task: String, result: TaskEvaluator.Result)] {
        try report("evaluate", 0)
        var watched = try provenance.evalSets().filter { $0.task != request.task }
        if let eval = request.eval { watched.append((request.task, eval)) } else if let own = try provenance.evalSets().first(where: { $0.task == request.task }) {
            watched.append(own)
        }
        guard !watched.isEmpty else { return [] }
        let evaluator = VersionEvaluator(store: store, config: config, tokenizer: try base.tokenizer(), scratch: scratch)
        return try evaluator.evaluate(merged, origin: "merged model", sets: watched) { done in
            try report("evaluate", Double(done) / Double(watched.count))
        }
    }

    /// Why head must not move (a watched task fell more than the gate below its best earlier
    /// version), or nil.
    func gate(_ scores: [(task: String, result: TaskEvaluator.Result)]) throws -> String? {
        guard let gate = request.gate ?? settings.gatePoints else { return nil }
        for s in scores {
            let value = settings.evalMetric.value(of: s.result.score(task: s.task))
            if let best = try provenance.bestEvaluation(task: s.task, metric: settings.evalMetric), value < best.value - gate / 100 - 1e-12 {
                return String(format: "task %@ %@ %.1f%% is more than %.1f points below its best %.1f%% (version %d)",
                              s.task, settings.evalMetric.rawValue, value * 100, gate, best.value * 100, best.version)
            }
        }
        return nil
    }

    /// One SQLite transaction makes the version, its details, evaluations and the task's typical
    /// samples visible; returns the version number.
    func commit(_ fusion: Fusion, newModel: ModelRecord, mergedModel: ModelRecord,
                scores: [(task: String, result: TaskEvaluator.Result)], gateReason: String?) throws -> Int {
        try report("commit", 0)
        let samplesHash = job.samplesHash
        let request = self.request, seed = Int(plan.seed), typical = fusion.typical
        return try provenance.commitVersion(
            modelID: mergedModel.id, parent: parentVersion, task: request.task, method: settings.method,
            optionsJSON: JSONValue.object(fusion.options).serialized(), message: "register \(newModel.name) as \(request.task)",
            detail: fusion.detail, gated: gateReason != nil, gateReason: gateReason,
            registering: TaskRegistration(task: request.task, modelID: newModel.id, samplesHash: samplesHash,
                                          seed: seed, typical: typical, eval: request.eval),
            evaluations: scores.map { $0.result.score(task: $0.task) }).number
    }
}
