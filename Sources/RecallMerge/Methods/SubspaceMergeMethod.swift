import Foundation
import RecallTensor

/// What the SVD-based merges (Iso-C, Iso-CTS, TSV-M) share around their formula: task vectors
/// `τ_t = θ_t − θ0` against the base, the formula per 2-D linear weight in a `TaskSubspace`
/// (from every model's LoRA factors when the engine hands them over, else dense), and
/// `θ = θ0 + λ Δ`. Every other tensor (embeddings, whose name holds `embed`, norms, biases: 1-D)
/// takes the mean of the task vectors, `θ0 + λ mean_t τ_t`, as the papers' code does (FusionBench
/// `iso_utils`, `TSVM_utils`: non-2-D tensors are averaged; we also keep embeddings out of the SVD
/// because a vocabulary-sized SVD per task is what the core space is there to avoid).
///
/// `task_rank` N > 0 (not in the papers; an implementation device for the registry, which stores
/// LoRA experts as full weights): each dense task vector is first cut to its best rank-N factors
/// (`LowRankFactors.recovered`, a randomized range finder), then merged in the core space. The
/// rounding of an expert stored in BF16 is a full-rank floor under the rank-r update; Iso-C, which
/// gives every kept direction the mean singular value, otherwise lifts that floor to the signal's
/// level. Ignored when the engine hands over the adapters' own factors.
///
/// Memory on the dense path: the engine holds this one tensor of every model in F32, and the
/// subspace one double copy per task plus LAPACK's workspace; never more than one tensor.
public protocol SubspaceMergeMethod: MergeMethod {
    /// Global parameters this method accepts (besides none else).
    var parameterRanges: [(key: String, check: (Double) -> Bool, rule: String)] { get }
    /// The merged update of one matrix, in the subspace's core coordinates.
    func mergedCore(_ subspace: TaskSubspace, parameters: [String: Double]) throws -> DMatrix
}

extension SubspaceMergeMethod {
    public var needsBase: Bool { true }
    public var defaultModelParameters: [String: Double?] { [:] }
    public var usesLowRankFactors: Bool { true }

    static var taskRankRange: (key: String, check: (Double) -> Bool, rule: String) {
        ("task_rank", { $0 >= 0 && $0 <= 65536 && $0.rounded() == $0 }, "must be a whole number >= 0 (0: every task vector as it is)")
    }

    /// 2-D weights other than embeddings go through the SVD formula.
    static func isMatrix(_ name: String, shape: [Int]) -> Bool {
        shape.count == 2 && shape[0] > 0 && shape[1] > 0 && !name.contains("embed")
    }

    public func checkParameters(_ parameters: [String: Double]) throws {
        let known = parameterRanges.map(\.key)
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) {
            guard let range = parameterRanges.first(where: { $0.key == key }) else {
                throw RecallError(.invalidArgument, "option '\(key)' is not a \(name) option; use \(known.joined(separator: ", "))")
            }
            guard value.isFinite, range.check(value) else {
                throw RecallError(.invalidArgument, "option \(key)=\(String(format: "%g", value)): \(range.rule)")
            }
        }
    }

    public func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = context.base else { throw RecallError(.invalidArgument, "\(name) needs a base model") }
        var parameters = defaultParameters
        for (k, v) in context.parameters { parameters[k] = v }
        try checkParameters(parameters)
        let lambda = parameters["lambda"] ?? 1
        let count = context.factors?.count ?? context.inputs.count
        guard count > 0 else { _ = out.initialize(from: base); return }
        if Self.isMatrix(context.tensorName, shape: context.shape) {
            let (rows, cols) = (context.shape[0], context.shape[1])
            var tasks: [TaskMatrix] = context.factors?.map { .factored($0) } ?? context.inputs.map { input in
                .dense((0..<out.count).map { input.values[$0] - base[$0] })
            }
            let taskRank = Int(parameters["task_rank"] ?? 0)
            if context.factors == nil, taskRank > 0 {
                // LoRA experts stored as full weights: their rank-r part, without the storage rounding.
                tasks = try tasks.enumerated().map { t, task in
                    guard case let .dense(values) = task else { return task }
                    let tau = DMatrix(rows: rows, cols: cols, data: values.map(Double.init))
                    return .factored(try LowRankFactors.recovered(from: tau, rank: taskRank, seed: context.seed &+ UInt64(t)))
                }
            }
            let subspace = try TaskSubspace(rows: rows, cols: cols, tasks: tasks)
            let delta = subspace.expand(try mergedCore(subspace, parameters: parameters))
            for k in out.indices {
                let d = lambda * delta.data[k]
                out[k] = d == 0 ? base[k] : Float(Double(base[k]) + d)  // zero update: the base's own bits
            }
            return
        }
        // Not a linear weight: the mean task vector.
        if let factors = context.factors {
            var sum = [Double](repeating: 0, count: out.count)
            for f in factors { for (k, v) in f.dense().data.enumerated() where k < sum.count { sum[k] += v } }
            for k in out.indices {
                let d = lambda * sum[k] / Double(count)
                out[k] = d == 0 ? base[k] : Float(Double(base[k]) + d)
            }
            return
        }
        for k in out.indices {
            var sum = 0.0
            for input in context.inputs { sum += Double(input.values[k] - base[k]) }
            let d = lambda * sum / Double(count)
            out[k] = d == 0 ? base[k] : Float(Double(base[k]) + d)
        }
    }
}
