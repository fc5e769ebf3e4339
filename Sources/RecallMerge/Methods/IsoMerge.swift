import Foundation

/// Iso-C (Marczak et al. 2025, "No Task Left Behind: Isotropic Model Merging with Common and
/// Task-Specific Subspaces"): task arithmetic's sum with a flat spectrum. Per linear weight,
///
///     S = Σ_t τ_t = U diag(σ) Vᵀ,    Δ = σ̄ U Vᵀ,   σ̄ = mean_i σ_i,    θ = θ0 + λ Δ
///
/// (FusionBench `isotropic_merging/iso_utils.iso_c`, scaling_factor = our `lambda`, default 1).
/// The mean runs over the non-zero singular values (`TaskSubspace.keptCount`): for a full-rank
/// sum that is the published code; for a LoRA sum (rank ≤ Σ r_t) the zero ones have no defined
/// singular vectors. With LoRA factors the SVD is that of the `R x R` core (R = Σ r_t).
/// Other tensors: `θ0 + λ mean_t τ_t` (`SubspaceMergeMethod`).
public struct IsoCMerge: SubspaceMergeMethod {
    public let name = "iso_c"
    public let defaultParameters: [String: Double] = ["lambda": 1, "task_rank": 0]
    public var parameterRanges: [(key: String, check: (Double) -> Bool, rule: String)] {
        [("lambda", { $0 > 0 }, "must be a positive number (the scaling of the merged update)"), Self.taskRankRange]
    }

    public init() {}

    public func mergedCore(_ subspace: TaskSubspace, parameters: [String: Double]) throws -> DMatrix {
        try Self.isotropicSum(subspace.cores)
    }

    /// `σ̄ U Vᵀ` of the sum of `cores`.
    static func isotropicSum(_ cores: [DMatrix]) throws -> DMatrix {
        let sum = cores.dropFirst().reduce(cores[0], +)
        let (u, s, vt) = try thinSVD(sum)
        let r = TaskSubspace.keptCount(s, reference: sum.frobenius)
        guard r > 0 else { return DMatrix(rows: sum.rows, cols: sum.cols) }
        let mean = s.prefix(r).reduce(0, +) / Double(r)
        return mean * matmul(u.columns(0..<r), vt.rowRange(0..<r))
    }
}

/// Iso-CTS (same paper): Iso-C's common subspace plus task-specific directions. Per linear
/// weight (`m x n`, T tasks, d = min(m, n), common fraction f):
///
///     k = int(d f);  k = d − round((d − k) / T) · T;  s = (d − k) / T     (Python's round: half to even)
///     S = Σ_t τ_t = U diag(σ) Vᵀ;  common: U_k, σ_1..k, V_k
///     per task: (I − U_k U_kᵀ) τ_t = U_t diag(σ_t) V_tᵀ, its top s triplets
///     U* = polar([U_k, U_1,s … U_T,s]),  V* = polar([V_k, V_1,s … V_T,s])   (polar(X) = P Qᵀ for X = P Σ Qᵀ)
///     Δ = σ̄ U* V*ᵀ,  σ̄ = mean of every kept σ,   θ = θ0 + λ Δ
///
/// (FusionBench `iso_utils.iso_cts`; defaults there and in the authors' configs: f = 0.8,
/// scaling 1.) Rank-deficient inputs keep only non-zero triplets (`TaskSubspace`): the common
/// part at most rank(S), each task part at most the rank of its residual (σ measured against
/// ‖τ_t‖_F), the polar factors on their range. With LoRA factors at ranks whose sum is below
/// `k`, the common part already spans every task's columns, nothing task-specific remains and
/// Iso-CTS equals Iso-C; choose a smaller `common_fraction` to keep task-specific directions.
public struct IsoCTSMerge: SubspaceMergeMethod {
    public let name = "iso_cts"
    public let defaultParameters: [String: Double] = ["lambda": 1, "common_fraction": 0.8, "task_rank": 0]
    public var parameterRanges: [(key: String, check: (Double) -> Bool, rule: String)] {
        [("lambda", { $0 > 0 }, "must be a positive number (the scaling of the merged update)"),
         ("common_fraction", { $0 > 0 && $0 <= 1 }, "must be a number in (0, 1] (the share of the spectrum kept as the common subspace)"),
         Self.taskRankRange]
    }

    public init() {}

    /// `(k, s)`: the common subspace's size and each task's share, as the published code sizes them.
    public static func sizes(rows: Int, cols: Int, tasks: Int, fraction: Double) -> (common: Int, perTask: Int) {
        let d = min(rows, cols)
        var k = Int((Double(d) * fraction).rounded(.towardZero))
        let total = Int((Double(d - k) / Double(tasks)).rounded(.toNearestOrEven)) * tasks
        k = d - total
        return (k, Int((Double(d - k) / Double(tasks)).rounded(.towardZero)))
    }

    public func mergedCore(_ subspace: TaskSubspace, parameters: [String: Double]) throws -> DMatrix {
        let cores = subspace.cores
        let (k, perTask) = Self.sizes(rows: subspace.rows, cols: subspace.cols, tasks: cores.count,
                                      fraction: parameters["common_fraction"] ?? 0.8)
        let sum = cores.dropFirst().reduce(cores[0], +)
        let (u, s, vt) = try thinSVD(sum)
        let kc = min(k, TaskSubspace.keptCount(s, reference: sum.frobenius))
        let uc = u.columns(0..<kc)
        var us = [uc], vs = [vt.rowRange(0..<kc).transposed], sigmas = Array(s.prefix(kc))
        for core in cores {
            let residual = core - matmul(uc, matmul(uc, core, transA: true))
            let (ut, st, vtt) = try thinSVD(residual)
            let kt = min(perTask, TaskSubspace.keptCount(st, reference: core.frobenius))
            us.append(ut.columns(0..<kt))
            vs.append(vtt.rowRange(0..<kt).transposed)
            sigmas += st.prefix(kt)
        }
        guard !sigmas.isEmpty else { return DMatrix(rows: sum.rows, cols: sum.cols) }
        let mean = sigmas.reduce(0, +) / Double(sigmas.count)
        let uStar = try TaskSubspace.polar(DMatrix.hstack(us, rows: sum.rows))
        let vStar = try TaskSubspace.polar(DMatrix.hstack(vs, rows: sum.cols))
        return mean * matmul(uStar, vStar, transB: true)
    }
}
