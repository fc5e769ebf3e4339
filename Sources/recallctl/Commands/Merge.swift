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
        """
    )

    @Option(help: "Merge method: \(MergeMethods.all.map(\.name).joined(separator: ", ")).")
    var method: String

    @Option(help: "Base model (needed by task_arithmetic, ties, dare_*, slerp).")
    var base: String?

    @Option(help: "Comma-separated models to merge (files, sharded indexes or HF directories).")
    var models: String

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

    var modelPaths: [String] { models.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

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
            if let contents = try? FileManager.default.contentsOfDirectory(atPath: outURL.path), !contents.isEmpty, !force {
                throw RecallError(.invalidArgument, "\(outURL.path): is not empty; pass --force to overwrite or choose another directory")
            }
            let mergeMethod = try MergeMethods.named(method)
            let baseCheckpoint = try base.map { try Checkpoint.open(URL(fileURLWithPath: $0)) }
            let weights = try values(weight, option: "weight")
            let densities = try values(density, option: "density")
            var inputs: [MergeModel] = []
            var checkpoints: [Checkpoint] = []
            for (i, path) in modelPaths.enumerated() {
                let c = try Checkpoint.open(URL(fileURLWithPath: path))
                checkpoints.append(c)
                var p: [String: ParameterSetting] = [:]
                if let weights { p["weight"] = .scalar(weights[i]) }
                if let densities { p["density"] = .scalar(densities[i]) }
                inputs.append(MergeModel(name: URL(fileURLWithPath: path).lastPathComponent, source: c.weights, parameters: p))
            }
            let config = MergeConfiguration(
                method: mergeMethod,
                base: baseCheckpoint.map { MergeModel(name: URL(fileURLWithPath: base!).lastPathComponent, source: $0.weights) },
                models: inputs, parameters: try globalParameters(), outputDType: dtype, seed: seed)
            let merged = try MergedCheckpoint(config)
            let template = baseCheckpoint ?? checkpoints[0]
            try CheckpointWriter(dtype: dtype, maxShardBytes: shardSize.flatMap(parseByteSize),
                                 metadata: ["recall.tool": "recallctl merge \(RecallVersion.string)", "recall.merge_method": method])
                .write(merged, configJSON: template.configJSON, sidecars: template.sidecarFiles, to: outURL)
            if json {
                printJSON(.object([("output", .string(outURL.path)), ("method", .string(method)),
                                   ("models", .array(modelPaths.map { .string($0) })), ("tensors", .int(merged.infos.count))]))
            } else {
                print("merged \(modelPaths.count) model(s) with \(method) into \(outURL.path) (\(merged.infos.count) tensors)")
            }
        }
    }
}
