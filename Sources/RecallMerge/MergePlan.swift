import Foundation
import RecallTensor
import RecallModel

/// The registry's merge method with its options checked once, at `init`: RECALL's options or a
/// baseline method's parameters. Unknown keys and bad values are refused with the key named.
public struct MergePlan {
    public enum Kind {
        case recall(RecallMerge.Options, probeNewOnly: Bool)
        /// RegMean over activation statistics of each task's samples (no representations).
        case regmean(RegMeanMerge.Options, dtype: DType?)
        case baseline(MergeMethod, perModel: [String: ParameterSetting], global: [String: ParameterSetting], seed: UInt64, dtype: DType?)
        /// OPCM: each register projects the new task vector (against the base) away from the
        /// head's merged update (`OPCMMerge`); the head's `OPCMMerge.State` rides in its version's options.
        case opcm(alpha: Double, dtype: DType?)
    }
    public let method: String
    public let kind: Kind
    /// How activation statistics are taken, when the method uses them (`regmean`, `recall`
    /// with `fusion=regmean`); nil otherwise.
    public let statistics: StatisticsRecipe?

    public static let recallKeys = ["clusters", "seed", "tau", "lambda", "score", "pooling", "sparsify", "dtype", "probe", "sigma", "kernel",
                                    "fusion", "alpha", "ridge", "rank", "stats_samples"]
    public static let regmeanKeys = ["alpha", "ridge", "rank", "stats_samples", "dtype"]
    public static let opcmKeys = ["alpha", "dtype"]

    /// RegMean's options (`alpha`, `ridge`) and the statistics recipe (`rank`, `stats_samples`).
    static func regmean(_ options: [String: String], bad: (String, String) -> RecallError) throws -> (RegMeanMerge.Options, StatisticsRecipe) {
        var o = RegMeanMerge.Options(), recipe = StatisticsRecipe()
        if let v = options["alpha"] { guard let a = Double(v), a >= 0, a <= 1 else { throw bad("alpha", "must be a number in [0, 1]") }; o.alpha = a }
        if let v = options["ridge"] { guard let r = Double(v), r > 0, r.isFinite else { throw bad("ridge", "must be a positive number") }; o.ridge = r }
        if let v = options["rank"] { guard let k = Int(v), k >= 0, k <= 4096 else { throw bad("rank", "must be an integer in 0...4096") }; recipe.rank = k }
        if let v = options["stats_samples"] {
            guard let n = Int(v), n >= 1 else { throw bad("stats_samples", "must be an integer >= 1") }
            recipe.samples = n
        }
        return (o, recipe)
    }

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

    /// How a bad option is named in errors: `option key=value` for the `--opt` map of `init`,
    /// `--key value` when the map was built from a command's own flags (`merge --method recall`).
    public enum Spelling: Sendable { case keyValue, flags }

    public init(method: String, options: [String: String], spelling: Spelling = .keyValue) throws {
        self.method = method
        let reader = OptionReader(options: options, spelling: spelling)
        switch method {
        case "recall": (kind, statistics) = try Self.recallPlan(reader)
        case "regmean":
            try reader.refuseUnknown(Self.regmeanKeys, of: "regmean")
            let (r, recipe) = try Self.regmean(options, bad: reader.bad)
            (kind, statistics) = (.regmean(r, dtype: try reader.dtype()), recipe)
        case "opcm": (kind, statistics) = (try Self.opcmPlan(reader), nil)
        default: (kind, statistics) = (try Self.baselinePlan(method, reader), nil)
        }
    }

    /// Typed reads of `--opt key=value` pairs; a bad value is one line naming the option.
    struct OptionReader {
        let options: [String: String]
        var spelling: Spelling = .keyValue

        subscript(_ key: String) -> String? { options[key] }

        func bad(_ key: String, _ what: String) -> RecallError {
            let value = options[key] ?? ""
            switch spelling {
            case .keyValue: return RecallError(.invalidArgument, "option \(key)=\(value): \(what)")
            case .flags: return RecallError(.invalidArgument, "--\(key.replacingOccurrences(of: "_", with: "-")) \(value): \(what)")
            }
        }

        func refuseUnknown(_ known: [String], of method: String) throws {
            for key in options.keys.sorted() where !known.contains(key) {
                let article = "aeiou".contains(method.first ?? "x") ? "an" : "a"
                throw RecallError(.invalidArgument, "option '\(key)' is not \(article) \(method) option; use \(known.joined(separator: ", "))")
            }
        }

        func dtype() throws -> DType? {
            guard let d = options["dtype"] else { return nil }
            guard let t = DType(userSpelling: d), t.isComputeFloat else { throw bad("dtype", "must be f32, f16 or bf16") }
            return t
        }

        func seed() throws -> UInt64 {
            guard let s = options["seed"] else { return 0 }
            // Provenance keeps the seed in a signed 64-bit column, so the range stops at Int64.max.
            guard let v = UInt64(s), v <= UInt64(Int64.max) else {
                throw bad("seed", "must be an integer from 0 to \(Int64.max)")
            }
            return v
        }
    }

    /// RECALL's options: clustering, weighting, similarity, lambda, and its fusion (task vectors,
    /// or RegMean with its statistics recipe).
    static func recallPlan(_ options: OptionReader) throws -> (Kind, StatisticsRecipe?) {
        let bad = options.bad
        try options.refuseUnknown(recallKeys, of: "recall")
        var o = RecallMerge.Options()
        if let v = options["clusters"] { guard let k = Int(v), k >= 1 else { throw bad("clusters", "must be an integer >= 1") }; o.clusters = k }
        o.seed = try options.seed()
        if let v = options["tau"] { guard let t = Double(v), t > 0 else { throw bad("tau", "must be a positive number") }; o.temperature = t }
        if let v = options["lambda"] {
            if v == "auto" { o.lambda = .auto(RecallMerge.Options.defaultLambdaGrid) } else {
                guard let l = Double(v), l > 0 else { throw bad("lambda", "must be a positive number or auto") }
                o.lambda = .fixed(l)
            }
        }
        if let v = options["score"] {
            guard let s = LayerWeighting.Score(rawValue: v) else { throw bad("score", "must be centrality, anchor-new or routing") }
            o.score = s
        }
        if let v = options["pooling"] {
            guard let p = Pooling(argument: v) else { throw bad("pooling", "must be exclude-first, mean or exclude-outliers") }
            o.pooling = p
        }
        if let v = options["sparsify"] {
            guard let s = LayerwiseFusion.Sparsify(argument: v) else { throw bad("sparsify", "must be ties:DENSITY with 0 < DENSITY <= 1, e.g. ties:0.5") }
            o.sparsify = s
        }
        if let v = options["sigma"] {
            guard let sigma = Self.sigma(v) else { throw bad("sigma", "must be cross, within or a positive number") }
            o.similarity.sigma = sigma
        }
        if let v = options["kernel"] {
            guard let k = LayerSimilarity.Kernel(rawValue: v) else { throw bad("kernel", "must be rbf, linear-cka or rbf-cka") }
            o.similarity.kernel = k
        }
        o.outputDType = try options.dtype()
        let probe = options["probe"] ?? "all"
        guard probe == "all" || probe == "new" else { throw bad("probe", "must be all (typical samples of every task) or new (the new task's only)") }
        var statistics: StatisticsRecipe?
        switch options["fusion"] ?? "task-vector" {
        case "task-vector":
            if let key = ["alpha", "ridge", "rank", "stats_samples"].first(where: { options[$0] != nil }) {
                throw bad(key, "applies to fusion=regmean only")
            }
        case "regmean":
            if o.sparsify != .none { throw bad("sparsify", "applies to fusion=task-vector only") }
            let (r, recipe) = try Self.regmean(options.options, bad: bad)
            o.regmean = r
            statistics = recipe
        default: throw bad("fusion", "must be task-vector or regmean")
        }
        return (.recall(o, probeNewOnly: probe == "new"), statistics)
    }

    /// OPCM's one option: the share of the merged spectrum each step protects.
    static func opcmPlan(_ options: OptionReader) throws -> Kind {
        try options.refuseUnknown(opcmKeys, of: "opcm")
        var alpha = 0.5
        if let v = options["alpha"] {
            guard let a = Double(v), a > 0, a < 1 else { throw options.bad("alpha", "must be a number in (0, 1) (the share of the merged spectrum protected)") }
            alpha = a
        }
        return .opcm(alpha: alpha, dtype: try options.dtype())
    }

    /// A mergekit-style method: its parameters as numbers (or true/false), per model or global,
    /// checked by the method itself.
    static func baselinePlan(_ method: String, _ options: OptionReader) throws -> Kind {
        let m: MergeMethod
        do { m = try MergeMethods.named(method) } catch {
            throw RecallError(.invalidArgument, "method '\(method)' is not one of recall, regmean, opcm, \(MergeMethods.all.map(\.name).joined(separator: ", "))")
        }
        var perModel: [String: ParameterSetting] = [:], global: [String: ParameterSetting] = [:]
        for (key, value) in options.options where key != "seed" && key != "dtype" {
            let number: Double
            switch value.lowercased() {
            case "true": number = 1
            case "false": number = 0
            default:
                guard let v = Double(value) else { throw options.bad(key, "must be a number or true/false") }
                number = v
            }
            if Self.baselinePerModelKeys.contains(key) { perModel[key] = .scalar(number) } else { global[key] = .scalar(number) }
        }
        var given: [String: Double] = [:]
        for (key, value) in global.merging(perModel, uniquingKeysWith: { a, _ in a }) { if case let .scalar(v) = value { given[key] = v } }
        try m.checkParameters(given)
        if perModel["weight"] == nil { perModel["weight"] = .scalar(1) }
        return .baseline(m, perModel: perModel, global: global, seed: try options.seed(), dtype: try options.dtype())
    }
}

/// Which samples feed a task's activation statistics and how small they are kept: the first
/// `samples` lines of the task's samples file, through the task's own model, each module's
/// Gram sketched at `rank` (see `GramSketch`). `key` names the cache entry, so statistics taken
/// another way are never mixed up.
public struct StatisticsRecipe: Equatable, Sendable {
    public var rank = 24
    public var samples = 64
    public init() {}
    public var key: String { "gram-v1-rank\(rank)-samples\(samples)" }
    /// The key of a merged model's running sum `S_t` (sequential scenario).
    public var runningSumKey: String { "sum-" + key }
}
