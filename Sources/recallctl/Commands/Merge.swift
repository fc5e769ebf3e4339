import ArgumentParser
import Foundation
import RecallCore

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge checkpoints once, without the daemon (mergekit semantics).",
        discussion: """
        Methods: linear, task_arithmetic, ties, dare_linear, dare_ties, slerp. Per-model values are \
        comma lists in --models order; a single value applies to every model. Output: an HF directory \
        with the config and tokenizer files of the base (or of the first model).

        Example: recallctl merge --method ties --base base/ --models a.st,b.st --weight 1,0.8 --density 0.5 --out merged/
        Or from a mergekit YAML (models: form; paths relative to the file): recallctl merge --config merge.yml --out merged/
        """
    )

    @Option(help: "A mergekit YAML file (merge_method, base_model, models with parameters, parameters, dtype).")
    var config: String?

    @Option(help: "Merge method: \(MergeMethods.all.map(\.name).joined(separator: ", ")).")
    var method: String?

    @Option(help: "Base model (needed by task_arithmetic, ties, dare_*, slerp).")
    var base: String?

    @Option(help: "Comma-separated models to merge (files, sharded indexes or HF directories).")
    var models: String?

    @Option(help: "Per-model weights, comma-separated (one value applies to all).")
    var weight: String?

    @Option(help: "Per-model densities for ties / dare_* (fraction of each task vector kept).")
    var density: String?

    @Option(name: .customLong("param"), help: "A global parameter as key=value (normalize, lambda, rescale, t). Repeatable.")
    var params: [String] = []

    @Option(help: "Output float dtype (f32, f16, bf16). Default: the base's.")
    var dtype: DType?

    @Option(name: .customLong("shard-size"), help: "Shard the output weights (e.g. 2GB).")
    var shardSize: String?

    @Option(help: "Seed for the random methods (dare_*).")
    var seed: UInt64 = 0

    @Option(help: "Output directory.")
    var out: String

    @Flag(help: "Overwrite OUT if it exists and is not empty.")
    var force = false

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

    func globalParameters() throws -> [String: ParameterSetting] {
        var out: [String: ParameterSetting] = [:]
        for p in params {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else { throw ValidationError("--param '\(p)' must be key=value") }
            switch kv[1].lowercased() {
            case "true": out[kv[0]] = .scalar(1)
            case "false": out[kv[0]] = .scalar(0)
            default:
                guard let v = Double(kv[1]) else { throw ValidationError("--param \(kv[0]) value '\(kv[1])' is not a number or true/false") }
                out[kv[0]] = .scalar(v)
            }
        }
        return out
    }

    func validate() throws {
        if config != nil {
            guard method == nil, models == nil, base == nil, weight == nil, density == nil, params.isEmpty else {
                throw ValidationError("--config describes the whole merge; do not combine it with --method, --base, --models, --weight, --density or --param")
            }
            return
        }
        guard let method else { throw ValidationError("give --method and --models, or --config") }
        guard (try? MergeMethods.named(method)) != nil else {
            throw ValidationError("--method '\(method)' is not one of \(MergeMethods.all.map(\.name).joined(separator: ", "))")
        }
        guard !modelPaths.isEmpty else { throw ValidationError("--models needs at least one model") }
        _ = try values(weight, option: "weight")
        _ = try values(density, option: "density")
        _ = try globalParameters()
        if let shardSize, parseByteSize(shardSize) == nil { throw ValidationError("--shard-size '\(shardSize)' is not a size") }
        if let dtype, !dtype.isComputeFloat { throw ValidationError("--dtype must be f32, f16 or bf16") }
    }

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: force)
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
                let c = try Checkpoint.open(URL(fileURLWithPath: entry.path))
                checkpoints.append(c)
                inputs.append(MergeModel(name: URL(fileURLWithPath: entry.path).lastPathComponent, source: c.weights, parameters: entry.parameters))
            }
            let outputDType = spec?.dtype ?? dtype
            let config = MergeConfiguration(
                method: mergeMethod,
                base: baseCheckpoint.map { MergeModel(name: URL(fileURLWithPath: basePath!).lastPathComponent, source: $0.weights) },
                models: inputs, parameters: try spec?.parameters ?? globalParameters(), outputDType: outputDType, seed: spec?.seed ?? seed)
            let merged = try MergedCheckpoint(config)
            guard let template = baseCheckpoint ?? checkpoints.first else {
                throw RecallError(.invalidArgument, "nothing to merge: no models besides the base")
            }
            try CheckpointWriter(dtype: outputDType, maxShardBytes: shardSize.flatMap(parseByteSize),
                                 metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": methodName])
                .write(merged, configJSON: template.configJSON, sidecars: template.sidecarFiles, to: outURL)
            if json {
                printJSON(.object([("output", .string(outURL.path)), ("method", .string(methodName)),
                                   ("models", .array(entries.map { .string($0.path) })), ("tensors", .int(merged.infos.count))]))
            } else {
                print("merged \(inputs.count) model(s) with \(methodName) into \(outURL.path) (\(merged.infos.count) tensors)")
            }
        }
    }
}
