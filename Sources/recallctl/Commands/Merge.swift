import ArgumentParser
import Foundation
import RecallTensor
import RecallModel
import RecallMerge

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge checkpoints once, without the daemon (mergekit semantics).",
        discussion: """
        Methods: regmean, recall, opcm, \(MergeMethods.all.map(\.name).joined(separator: ", ")). Per-model values are \
        comma lists in --models order; a single value applies to every model. Output: an HF directory \
        with the config and tokenizer files of the base (or of the first model).

        Example: recallctl merge --method ties --base base/ --models a.st,b.st --weight 1,0.8 --density 0.5 --out merged/
        Or from a mergekit YAML (models: form; paths relative to the file): recallctl merge --config merge.yml --out merged/
        RECALL (the last model is the new task's; its samples pick the typical samples):
          recallctl merge --method recall --base base/ --models a/,b/,new/ --samples new.jsonl --out merged/ --report report.json
        RegMean (each model runs on its own task's samples; one samples file per model, in --models order):
          recallctl merge --method regmean --base base/ --models a/,b/ --samples a.jsonl,b.jsonl --out merged/
        """
    )

    @Option(help: "A mergekit YAML file (merge_method, base_model, models with parameters, parameters, dtype).")
    var config: String?

    @Option(help: "Merge method: recall, regmean, opcm, \(MergeMethods.all.map(\.name).joined(separator: ", ")).")
    var method: String?

    @Option(help: "recall: the new task's samples (JSONL), from which typical samples are picked. regmean: one samples file per model, comma-separated.")
    var samples: String?

    @Option(help: "regmean: off-diagonal scale of each Gram (alpha).")
    var alpha: Double = 0.9

    @Option(help: "regmean: ridge, relative to the mean diagonal of the summed Gram.")
    var ridge: Double = 1e-3

    @Option(help: "regmean: rank of each Gram sketch.")
    var rank: Int = 24

    @Option(name: .customLong("stats-samples"), help: "regmean: samples per model (the first N lines) that feed the statistics.")
    var statsSamples: Int = 64

    @Option(help: "recall: typical samples kept for earlier tasks (JSONL), added to the probe set.")
    var probe: String?

    @Option(help: "recall: lambda, a number or 'auto' (tries \(RecallMerge.Options.defaultLambdaGrid.map { String(format: "%g", $0) }.joined(separator: ", ")) and keeps the lowest loss).")
    var lambda: String = "auto"

    @Option(help: "recall: softmax temperature tau.")
    var tau: Double = 0.1

    @Option(help: "recall: score for the weights: centrality, anchor-new or routing (probe lines name their task in a \"task\" field, matched to the --models basenames).")
    var score: String = "centrality"

    @Option(help: "recall: number of typical samples (k-means clusters).")
    var clusters: Int = 16

    @Option(help: "recall: 'ties:DENSITY' trims each weighted task vector by magnitude and elects signs as TIES does before summing (e.g. ties:0.5).")
    var sparsify: String?

    @Option(help: "recall: pooling of token states: exclude-first (default), mean, exclude-outliers.")
    var pooling: String = "exclude-first"

    @Option(help: "recall: RBF sigma per layer: cross (median distance between models, default), within (between samples of a model) or a number.")
    var sigma: String = "cross"

    @Option(help: "recall: similarity: rbf (default), linear-cka or rbf-cka (CKA: compares how each model arranges the probe samples).")
    var kernel: String = "rbf"

    @Option(help: "recall: write the merge report (typical samples, sigmas, similarities, weights, lambda) as JSON here.")
    var report: String?

    @Option(help: "Base model (needed by task_arithmetic, ties, dare_*, slerp).")
    var base: String?

    @Option(help: "Comma-separated models to merge (files, sharded indexes, HF directories, or PEFT adapter directories of --base).")
    var models: String?

    @Option(help: "Per-model weights, comma-separated (one value applies to all).")
    var weight: String?

    @Option(help: "Per-model densities for ties / dare_* (fraction of each task vector kept).")
    var density: String?

    @Option(name: .customLong("param"), help: "A global parameter as key=value (normalize, lambda, rescale, t; iso_cts: common_fraction; opcm: alpha). Repeatable.")
    var params: [String] = []

    @Option(help: "Seed for the random methods (dare_*).")
    var seed: UInt64 = 0

    @Option(help: "Output directory.")
    var out: String

    /// --dtype defaults to the base's (or a mergekit YAML's dtype).
    @OptionGroup var writing: OutputOptions

    @Flag(help: "Print a JSON summary.")
    var json = false

    var modelPaths: [String] { (models ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func values(_ list: String?, option: String) throws -> [Double]? {
        guard let list else { return nil }
        let parts = list.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(option) '\(list)' must be numbers separated by commas") }
        let numbers = parts.compactMap { $0 }
        guard numbers.count == 1 || numbers.count == modelPaths.count else {
            throw ValidationError("--\(option) has \(numbers.count) values for \(modelPaths.count) models")
        }
        return numbers.count == 1 ? Array(repeating: numbers[0], count: modelPaths.count) : numbers
    }

    /// `--param` pairs as numbers (true/false as 1/0).
    func globalParameters() throws -> [String: ParameterSetting] {
        let pairs: [String: String]
        do { pairs = try KeyValueOptions.parse(params, flag: "--param", example: "t=0.5") } catch let e as RecallError {
            throw ValidationError(e.message)
        }
        var out: [String: ParameterSetting] = [:]
        for (key, value) in pairs.sorted(by: { $0.key < $1.key }) {
            switch value.lowercased() {
            case "true": out[key] = .scalar(1)
            case "false": out[key] = .scalar(0)
            default:
                guard let v = Double(value) else { throw ValidationError("--param \(key) value '\(value)' is not a number or true/false") }
                out[key] = .scalar(v)
            }
        }
        return out
    }

    /// The `--method recall` flags as `MergePlan` options, so they are checked where `init --opt`
    /// is (the CLI's --probe is a file, not the `probe` option; fusion stays task-vector).
    var recallOptionMap: [String: String] {
        var o = ["clusters": String(clusters), "seed": String(seed), "tau": String(tau), "lambda": lambda, "score": score,
                 "pooling": pooling, "sigma": sigma, "kernel": kernel]
        if let sparsify { o["sparsify"] = sparsify }
        if let dtype = writing.dtype { o["dtype"] = dtype.rawValue }
        return o
    }

    /// RECALL's options from the flags; a bad value is a usage error naming its flag.
    func recallOptions() throws -> RecallMerge.Options {
        let plan: MergePlan
        do { plan = try MergePlan(method: "recall", options: recallOptionMap, spelling: .flags) } catch let e as RecallError {
            throw ValidationError(e.message)
        }
        guard case let .recall(options, _) = plan.kind else { throw ValidationError("--method recall: no RECALL options") }
        return options
    }

    func validate() throws {
        if config != nil {
            guard method == nil, models == nil, base == nil, weight == nil, density == nil, params.isEmpty else {
                throw ValidationError("--config describes the whole merge; do not combine it with --method, --base, --models, --weight, --density or --param")
            }
            return
        }
        guard let method else { throw ValidationError("give --method and --models, or --config") }
        if method == "regmean" {
            guard base != nil, let samples else { throw ValidationError("--method regmean needs --base and --samples (one file per model)") }
            guard !modelPaths.isEmpty else { throw ValidationError("--models needs at least one model") }
            guard samples.split(separator: ",").count == modelPaths.count else {
                throw ValidationError("--samples has \(samples.split(separator: ",").count) files for \(modelPaths.count) models; give one per model")
            }
            guard alpha >= 0, alpha <= 1, ridge > 0, rank >= 0, statsSamples >= 1 else {
                throw ValidationError("--alpha must be in [0, 1], --ridge positive, --rank >= 0 and --stats-samples >= 1")
            }
            return
        }
        if method == "recall" {
            guard base != nil, samples != nil else { throw ValidationError("--method recall needs --base and --samples") }
            _ = try recallOptions()
            guard !modelPaths.isEmpty else { throw ValidationError("--models needs at least one model") }
            return
        }
        if method == "opcm" {
            guard base != nil, !modelPaths.isEmpty else { throw ValidationError("--method opcm needs --base and --models (in arrival order)") }
            _ = try globalParameters()
            return
        }
        guard (try? MergeMethods.named(method)) != nil else {
            throw ValidationError("--method '\(method)' is not one of opcm, \(MergeMethods.all.map(\.name).joined(separator: ", "))")
        }
        guard !modelPaths.isEmpty else { throw ValidationError("--models needs at least one model") }
        _ = try values(weight, option: "weight")
        _ = try values(density, option: "density")
        _ = try globalParameters()
    }

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: writing.force)
            if method == "recall" { return try runRecall(outURL) }
            if method == "regmean" { return try runRegMean(outURL) }
            if method == "opcm" { return try runOPCM(outURL) }
            let spec = try config.map { try MergekitConfig(url: URL(fileURLWithPath: $0)) }
            let methodName = spec?.method ?? method!
            let mergeMethod = try MergeMethods.named(methodName)
            let basePath = spec?.basePath ?? base
            let baseCheckpoint = try basePath.map { try Checkpoint.open(URL(fileURLWithPath: $0)) }
            var inputs: [MergeModel] = []
            var checkpoints: [Checkpoint] = []
            let weights = try values(weight, option: "weight")
            let densities = try values(density, option: "density")
            let entries: [(path: String, parameters: [String: ParameterSetting])] = spec?.models ?? modelPaths.enumerated().map { i, path in
                var p: [String: ParameterSetting] = [:]
                if let weights { p["weight"] = .scalar(weights[i]) }
                if let densities { p["density"] = .scalar(densities[i]) }
                return (path, p)
            }
            for entry in entries {
                // mergekit lists the base among the models; it is not a task model here.
                if let basePath, mergeMethod.needsBase, URL(fileURLWithPath: entry.path).standardizedFileURL == URL(fileURLWithPath: basePath).standardizedFileURL { continue }
                if let baseCheckpoint, let applier = try Self.adapter(entry.path, over: baseCheckpoint) {
                    // A PEFT adapter of the base: the subspace methods merge it from its factors.
                    inputs.append(MergeModel(name: URL(fileURLWithPath: entry.path).lastPathComponent, source: applier, parameters: entry.parameters))
                    continue
                }
                let c = try Checkpoint.open(URL(fileURLWithPath: entry.path))
                checkpoints.append(c)
                inputs.append(MergeModel(name: URL(fileURLWithPath: entry.path).lastPathComponent, source: c.weights, parameters: entry.parameters))
            }
            let outputDType = spec?.dtype ?? writing.dtype
            var given: [String: Double] = [:]
            for (key, value) in try spec?.parameters ?? globalParameters() { if case let .scalar(v) = value { given[key] = v } }
            try mergeMethod.checkParameters(given)
            let config = MergeConfiguration(
                method: mergeMethod,
                base: baseCheckpoint.map { MergeModel(name: URL(fileURLWithPath: basePath!).lastPathComponent, source: $0.weights) },
                models: inputs, parameters: try spec?.parameters ?? globalParameters(), outputDType: outputDType, seed: spec?.seed ?? seed)
            let merged = try MergedCheckpoint(config)
            guard let template = baseCheckpoint ?? checkpoints.first else {
                throw RecallError(.invalidArgument, "nothing to merge: no models besides the base")
            }
            try CheckpointWriter(dtype: outputDType, maxShardBytes: writing.maxShardBytes,
                                 metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": methodName],
                                 prefetch: true)
                .write(merged, configJSON: template.configJSON, sidecars: template.sidecarFiles, to: outURL)
            if json {
                printJSON(.object([("output", .string(outURL.path)), ("method", .string(methodName)),
                                   ("models", .array(entries.map { .string($0.path) })), ("tensors", .int(merged.infos.count))]))
            } else {
                print("merged \(inputs.count) model(s) with \(methodName) into \(outURL.path) (\(merged.infos.count) tensors)")
            }
        }
    }

    /// `--method recall`: RECALL over the given experts (the last is the new task's model).
    func runRecall(_ outURL: URL) throws {
        let baseCheckpoint = try Checkpoint.open(URL(fileURLWithPath: base!))
        let experts = try modelPaths.map { path -> RecallMerge.Expert in
            let name = URL(fileURLWithPath: path).lastPathComponent
            var e = RecallMerge.Expert(name: name, checkpoint: try Checkpoint.open(URL(fileURLWithPath: path)))
            e.task = name
            return e
        }
        let options = try recallOptions()
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: base!))
        let newSamples = try SamplesFile.load(URL(fileURLWithPath: samples!))
        let earlier = try probe.map { try SamplesFile.load(URL(fileURLWithPath: $0)) } ?? []
        let (merged, mergeReport) = try RecallMerge(options: options).merge(base: baseCheckpoint, experts: experts, newSamples: newSamples,
                                                                             earlierProbes: earlier, tokenizer: tokenizer)
        try CheckpointWriter(dtype: writing.dtype, maxShardBytes: writing.maxShardBytes,
                             metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": "recall"],
                             prefetch: true)
            .write(merged, configJSON: baseCheckpoint.configJSON, sidecars: baseCheckpoint.sidecarFiles, to: outURL)
        if let report {
            try Data((mergeReport.json.serialized(pretty: true) + "\n").utf8).write(to: URL(fileURLWithPath: report))
        }
        if json {
            printJSON(.object([("output", .string(outURL.path)), ("method", .string("recall")), ("report", mergeReport.json)]))
        } else {
            print("merged \(experts.count) model(s) with recall into \(outURL.path) (lambda \(mergeReport.lambda), \(mergeReport.typicalSamples.count) typical samples)")
            print("layer  " + experts.map { $0.name.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: " "))
            for (l, row) in mergeReport.weights.enumerated() {
                print(String(format: "%5d  ", l) + row.map { String(format: "%-10.3f", $0) }.joined(separator: " "))
            }
        }
    }

    /// `--method regmean`: each model's Gram sketches from its own samples, then RegMean over the
    /// base (embeddings, norms and lm_head: the mean of the task vectors).
    func runRegMean(_ outURL: URL) throws {
        let baseCheckpoint = try Checkpoint.open(URL(fileURLWithPath: base!))
        let config = try baseCheckpoint.modelConfig()
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: base!))
        let files = samples!.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var checkpoints: [Checkpoint] = []
        var inputs: [RegMeanMerge.Input] = []
        for (path, file) in zip(modelPaths, files) {
            let checkpoint = try Checkpoint.open(URL(fileURLWithPath: path))
            let model = try LlamaModel(config: config, weights: checkpoint.weights, origin: path)
            let texts = try SamplesFile.load(URL(fileURLWithPath: file)).prefix(statsSamples).map { tokenizer.encode($0.text) }
            let statistics = try ActivationStatistics.collect(model, batch: texts, rank: rank)
            checkpoints.append(checkpoint)
            inputs.append(RegMeanMerge.Input(name: URL(fileURLWithPath: path).lastPathComponent, weights: checkpoint.weights, statistics: statistics))
        }
        let share = 1 / Double(inputs.count)
        let fallback = try MergedCheckpoint(MergeConfiguration(
            method: GeneralizedTaskArithmetic.taskArithmetic, base: MergeModel(name: "base", source: baseCheckpoint.weights),
            models: inputs.map { MergeModel(name: $0.name, source: $0.weights, parameters: ["weight": .scalar(share)]) },
            parameters: ["lambda": .scalar(1)], outputDType: writing.dtype))
        let merged = try RegMeanMerge(anchor: baseCheckpoint.weights, inputs: inputs, fallback: fallback,
                                      options: RegMeanMerge.Options(alpha: alpha, ridge: ridge), outputDType: writing.dtype)
        try withExtendedLifetime(checkpoints) {
            try CheckpointWriter(dtype: writing.dtype, maxShardBytes: writing.maxShardBytes,
                                 metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": "regmean"])
                .write(merged, configJSON: baseCheckpoint.configJSON, sidecars: baseCheckpoint.sidecarFiles, to: outURL)
        }
        let statisticsBytes = inputs.reduce(0) { $0 + $1.statistics.byteCount }
        if json {
            printJSON(.object([("output", .string(outURL.path)), ("method", .string("regmean")), ("models", .int(inputs.count)),
                               ("statistics_bytes", .int(statisticsBytes))]))
        } else {
            print("merged \(inputs.count) model(s) with regmean into \(outURL.path) (statistics \(statisticsBytes / 1024) KiB)")
        }
    }

    /// A PEFT adapter directory (adapter_config.json, no config.json) applied to `base`, else nil.
    static func adapter(_ path: String, over base: Checkpoint) throws -> LoRAApplier? {
        let url = URL(fileURLWithPath: path), fm = FileManager.default
        guard fm.fileExists(atPath: url.appendingPathComponent("adapter_config.json").path),
              !fm.fileExists(atPath: url.appendingPathComponent("config.json").path) else { return nil }
        return try LoRAApplier(base: base.weights, adapterDirectory: url)
    }

    /// `--method opcm`: OPCM over the models in the order given (`--param alpha=A`, default 0.5),
    /// each a checkpoint or a PEFT adapter of the base (then every SVD runs on the small core).
    func runOPCM(_ outURL: URL) throws {
        let baseCheckpoint = try Checkpoint.open(URL(fileURLWithPath: base!))
        var alpha = 0.5
        for (key, value) in try globalParameters() {
            guard key == "alpha", case let .scalar(a) = value else {
                throw RecallError(.invalidArgument, "option '\(key)' is not an opcm option; use alpha")
            }
            alpha = a
        }
        var checkpoints: [Checkpoint] = []
        let tasks = try modelPaths.map { path -> OPCMMerge.Task in
            let name = URL(fileURLWithPath: path).lastPathComponent
            if let applier = try Self.adapter(path, over: baseCheckpoint) { return OPCMMerge.Task(name: name, source: applier) }
            let c = try Checkpoint.open(URL(fileURLWithPath: path))
            checkpoints.append(c)
            return OPCMMerge.Task(name: name, source: c.weights)
        }
        let merged = try OPCMMerge(base: baseCheckpoint.weights, tasks: tasks, alpha: alpha, outputDType: writing.dtype)
        try withExtendedLifetime(checkpoints) {
            try CheckpointWriter(dtype: writing.dtype, maxShardBytes: writing.maxShardBytes,
                                 metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": "opcm"])
                .write(merged, configJSON: baseCheckpoint.configJSON, sidecars: baseCheckpoint.sidecarFiles, to: outURL)
        }
        if json {
            printJSON(.object([("output", .string(outURL.path)), ("method", .string("opcm")), ("models", .array(modelPaths.map { .string($0) })),
                               ("alpha", .number(alpha, integer: nil)), ("opcm", merged.state.json)]))
        } else {
            print("merged \(tasks.count) model(s) with opcm into \(outURL.path) (alpha \(alpha), lambda \(String(format: "%.4f", merged.state.lambda)))")
        }
    }
}
