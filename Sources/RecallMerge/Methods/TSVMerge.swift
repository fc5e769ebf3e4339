import Foundation

/// TSV-M (Gargiulo et al., CVPR 2025, "Task Singular Vectors: Reducing Task Interference in Model
/// Merging"): each task's top singular vectors, decorrelated across tasks. Per linear weight
/// (`m x n`, T tasks):
///
///     τ_t = U_t diag(σ_t) V_tᵀ,   k = int(min(m, n) · (1/T))   (each task's share of the rank)
///     U = [U_1,k … U_T,k],  Σ = diag(σ_1,1..k … σ_T,1..k),  V = [V_1,k … V_T,k]
///     Δ = polar(U) Σ polar(V)ᵀ   (polar(X) = P Qᵀ for X = P S Qᵀ: the nearest orthonormal columns)
///     θ = θ0 + λ Δ
///
/// (FusionBench `task_singular_vector/utils/TSVM_utils.compute_and_sum_svd_mem_reduction`, alpha =
/// our `lambda`, default 1.) A task vector of rank below k (a LoRA update, rank r) keeps its r
/// non-zero triplets: the others have no defined singular vectors (`TaskSubspace`). With LoRA
/// factors every SVD is of an `R x R` core or an `R x T r` block (R = Σ r_t), never of the matrix.
/// Other tensors: `θ0 + λ mean_t τ_t` (`SubspaceMergeMethod`).
public struct TSVMerge: SubspaceMergeMethod {
    public let name = "tsv_m"
    public let defaultParameters: [String: Double] = ["lambda": 1, "task_rank": 0]
    public var parameterRanges: [(key: String, check: (Double) -> Bool, rule: String)] {
        [("lambda", { $0 > 0 }, "must be a positive number (the scaling of the merged update)"), Self.taskRankRange]
    }

    public init() {}

    /// Each task's share of the spectrum, as the published code computes it.
    public static func share(rows: Int, cols: Int, tasks: Int) -> Int {
        Int((Double(min(rows, cols)) * (1 / Double(tasks))).rounded(.towardZero))
    }

    public func mergedCore(_ subspace: TaskSubspace, parameters: [String: Double]) throws -> DMatrix {
        let cores = subspace.cores
        let k = Self.share(rows: subspace.rows, cols: subspace.cols, tasks: cores.count)
        var us: [DMatrix] = [], vs: [DMatrix] = [], sigmas: [Double] = []
        for core in cores {
            let (u, s, vt) = try thinSVD(core)
            let kt = min(k, TaskSubspace.keptCount(s, reference: core.frobenius))
            us.append(u.columns(0..<kt))
            vs.append(vt.rowRange(0..<kt).transposed)
            sigmas += s.prefix(kt)
        }
        let (p, q) = (cores[0].rows, cores[0].cols)
        guard !sigmas.isEmpty else { return DMatrix(rows: p, cols: q) }
        var uStar = try TaskSubspace.polar(DMatrix.hstack(us, rows: p))
        let vStar = try TaskSubspace.polar(DMatrix.hstack(vs, rows: q))
        for i in 0..<p { for j in 0..<sigmas.count { uStar[i, j] *= sigmas[j] } }
        return matmul(uStar, vStar, transB: true)
    }
}
