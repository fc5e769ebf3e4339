import Foundation

/// The registry's merge method with its options checked once, at `init`: RECALL's options or a
/// baseline method's parameters. Unknown keys and bad values are refused with the key named.
public struct MergePlan {
    public enum Kind {
        case recall(RecallMerge.Options, probeNewOnly: Bool)
        case baseline(MergeMethod, perModel: [String: ParameterSetting], global: [String: ParameterSetting], seed: UInt64, dtype: DType?)
    }
    public let method: String
    public let kind: Kind

    public static let recallKeys = ["clusters", "seed", "tau", "lambda", "score", "pooling", "sparsify", "dtype", "probe", "sigma", "kernel"]

    /// `cross` (median distance between models on the same sample), `within` (between samples
    /// of one model) or a fixed positive number.
    public static func sigma(_ text: String) -> LayerSimilarity.Sigma? {
        switch text {
        case "cross": return .crossModelMedian
        case "within": return .withinModelMedian
        default: return Double(text).flatMap { $0 > 0 ? .fixed($0) : nil }
        }
    }
    public static let baselinePerModelKeys = ["weight", "density"]

    public init(method: String, options: [String: String]) throws {
        self.method = method
        func bad(_ key: String, _ what: String) -> RecallError {
            RecallError(.invalidArgument, "option \(key)=\(options[key] ?? ""): \(what)")
        }
        func dtype() throws -> DType? {
            guard let d = options["dtype"] else { return nil }
            guard let t = DType(userSpelling: d), t.isComputeFloat else { throw bad("dtype", "must be f32, f16 or bf16") }
            return t
        }
        func seed() throws -> UInt64 {
            guard let s = options["seed"] else { return 0 }
            guard let v = UInt64(s) else { throw bad("seed", "must be a non-negative integer") }
            return v
        }
        if method == "recall" {
            for key in options.keys where !Self.recallKeys.contains(key) {
                throw RecallError(.invalidArgument, "option '\(key)' is not a recall option; use \(Self.recallKeys.joined(separator: ", "))")
            }
            var o = RecallMerge.Options()
            if let v = options["clusters"] { guard let k = Int(v), k >= 1 else { throw bad("clusters", "must be an integer >= 1") }; o.clusters = k }
            o.seed = try seed()
            if let v = options["tau"] { guard let t = Double(v), t > 0 else { throw bad("tau", "must be a positive number") }; o.temperature = t }
            if let v = options["lambda"] {
                if v == "auto" { o.lambda = .auto([1, 1.5, 2, 3]) } else {
                    guard let l = Double(v), l > 0 else { throw bad("lambda", "must be a positive number or auto") }
                    o.lambda = .fixed(l)
                }
            }
            if let v = options["score"] {
                guard let s = LayerWeighting.Score(rawValue: v) else { throw bad("score", "must be centrality, anchor-new or routing") }
                o.score = s
            }
            if let v = options["pooling"] {
                switch v {
                case "exclude-first": o.pooling = .meanExcludingFirst
                case "mean": o.pooling = .mean
                case "exclude-outliers": o.pooling = .meanExcludingFirstAndOutliers(ratio: 10)
                default: throw bad("pooling", "must be exclude-first, mean or exclude-outliers")
                }
            }
            if let v = options["sparsify"] {
                let parts = v.split(separator: ":")
                guard parts.count == 2, parts[0] == "ties", let d = Double(parts[1]), d > 0, d <= 1 else {
                    throw bad("sparsify", "must be ties:DENSITY with 0 < DENSITY <= 1")
                }
                o.sparsify = .ties(density: d)
            }
            if let v = options["sigma"] {
                guard let sigma = Self.sigma(v) else { throw bad("sigma", "must be cross, within or a positive number") }
                o.similarity.sigma = sigma
            }
            if let v = options["kernel"] {
                guard let k = LayerSimilarity.Kernel(rawValue: v) else { throw bad("kernel", "must be rbf, linear-cka or rbf-cka") }
                o.similarity.kernel = k
            }
            o.outputDType = try dtype()
            let probe = options["probe"] ?? "all"
            guard probe == "all" || probe == "new" else { throw bad("probe", "must be all (typical samples of every task) or new (the new task's only)") }
            kind = .recall(o, probeNewOnly: probe == "new")
            return
        }
        let m: MergeMethod
        do { m = try MergeMethods.named(method) } catch {
            throw RecallError(.invalidArgument, "method '\(method)' is not one of recall, \(MergeMethods.all.map(\.name).joined(separator: ", "))")
        }
        var perModel: [String: ParameterSetting] = [:], global: [String: ParameterSetting] = [:]
        for (key, value) in options where key != "seed" && key != "dtype" {
            let number: Double
            switch value.lowercased() {
            case "true": number = 1
            case "false": number = 0
            default:
                guard let v = Double(value) else { throw bad(key, "must be a number or true/false") }
                number = v
            }
            if Self.baselinePerModelKeys.contains(key) { perModel[key] = .scalar(number) } else { global[key] = .scalar(number) }
        }
        if perModel["weight"] == nil { perModel["weight"] = .scalar(1) }
        kind = .baseline(m, perModel: perModel, global: global, seed: try seed(), dtype: try dtype())
    }
}
