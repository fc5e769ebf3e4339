import Foundation
import RecallTensor

/// OPCM (Tang et al. 2025, "Merging Models on the Fly Without Retraining: A Sequential Approach
/// to Scalable Continual Model Merging"), as FusionBench's `method/opcm/opcm_general.OPCM` does it.
/// Task models arrive one at a time; task vectors are `τ_t = θ_t − θ0` against the pre-trained
/// model. With `Ψ_t` the unscaled running sum,
///
///     Ψ_1 = τ_1
///     per linear weight (2-D, not an embedding), with Ψ_{t−1} = U diag(σ) Vᵀ:
///         k = first i with (σ_1 + … + σ_{i+1}) / Σσ > α                 (0-based; alpha default 0.5)
///         P = Uᵀ τ_t V, its diagonal and its top-left k x k block set to 0
///         Ψ_t = Ψ_{t−1} + U P Vᵀ          (τ_t without what falls in Ψ's dominant block or on its own directions)
///     every other tensor:  Ψ_t = Ψ_{t−1} + τ_t
///     θ_t = θ0 + Ψ_t / λ_t,   λ_t = ‖Ψ_t‖ / mean_{i≤t} ‖τ_i‖          (norms over the whole model)
///
/// FusionBench carries `λ_{t−1} (θ_{t−1} − θ0)` in place of `Ψ_{t−1}`, which is the same thing, and
/// a scale of Ψ changes neither its singular vectors nor the split, so the recursion runs on Ψ.
/// Only `U P Vᵀ`'s terms on Ψ's non-zero singular triplets are removed (`TaskSubspace`: the zero
/// ones of a rank-deficient Ψ have no defined vectors; for full-rank Ψ this is the published
/// code): `U P Vᵀ = τ − U_k U_kᵀ τ V_k V_kᵀ − Σ_{k≤i<ρ} (u_iᵀ τ v_i) u_i v_iᵀ`, ρ = rank Ψ.
///
/// State between steps: the merged model itself plus two scalars' worth (`State`: λ_t and every
/// ‖τ_i‖), since `Ψ_t = λ_t (θ_t − θ0)`; no per-layer projection is kept (FusionBench recomputes
/// the SVD of the merged update at each step too). The registry keeps `State` in the version's
/// options and resumes from the head. The global norm needs every tensor's `Ψ_t` before any can
/// be scaled, so `init` runs the recursion over the whole model once (no tensor kept) and
/// `tensor(named:)` runs it again for its tensor: twice the SVDs, never more than one tensor's
/// inputs in memory. With LoRA adapters over `θ0` (and no previous merge) every SVD is of a small
/// core (`TaskSubspace`); from a stored head Ψ is dense, one SVD per matrix per step.
public final class OPCMMerge: TensorSource, @unchecked Sendable {
    /// What the next step needs besides the merged model: `λ_t` and every `‖τ_i‖` so far.
    public struct State: Equatable, Sendable {
        public var lambda: Double
        public var norms: [Double]
        public init(lambda: Double, norms: [Double]) {
            self.lambda = lambda
            self.norms = norms
        }

        public var json: JSONValue {
            .object([("lambda", .number(lambda, integer: nil)), ("norms", .array(norms.map { .number($0, integer: nil) }))])
        }

        public init?(json: JSONValue?) {
            guard let lambda = json?["lambda"]?.doubleValue, lambda > 0, lambda.isFinite,
                  let norms = json?["norms"]?.arrayValue?.compactMap(\.doubleValue), !norms.isEmpty else { return nil }
            self.init(lambda: lambda, norms: norms)
        }
    }

    public struct Task {
        public let name: String
        public let source: TensorSource
        public init(name: String, source: TensorSource) {
            self.name = name
            self.source = source
        }
    }

    let base: TensorSource
    let tasks: [Task]
    let previous: (source: TensorSource, state: State)?
    public let alpha: Double
    let outputDType: DType?
    /// The state after the last task (λ_T and every norm).
    public private(set) var state = State(lambda: 1, norms: [])

    public var infos: [TensorInfo] {
        base.infos.map { info in
            guard info.dtype.isComputeFloat, let out = outputDType else { return info }
            return TensorInfo(name: info.name, dtype: out, shape: info.shape)
        }
    }
    public var metadata: [(String, String)] { [("recall.merge_method", "opcm")] }

    /// `tasks` in arrival order, merged onto `previous` (an earlier OPCM merge of the same base and
    /// its state) or, without one, starting from the first task.
    public init(base: TensorSource, tasks: [Task], previous: (source: TensorSource, state: State)? = nil,
                alpha: Double = 0.5, outputDType: DType? = nil) throws {
        guard alpha > 0, alpha < 1, alpha.isFinite else {
            throw RecallError(.invalidArgument, "option alpha=\(alpha): must be a number in (0, 1) (the share of the merged spectrum protected)")
        }
        guard !tasks.isEmpty else { throw RecallError(.invalidArgument, "opcm needs at least one task model") }
        self.base = base
        self.tasks = tasks
        self.previous = previous
        self.alpha = alpha
        self.outputDType = outputDType
        let shapes = Dictionary(base.infos.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for (name, source) in tasks.map({ ($0.name, $0.source) }) + (previous.map { [("the previous merge", $0.source)] } ?? []) {
            for info in source.infos where shapes[info.name] != info.shape {
                throw RecallError(.mismatch, "opcm: model \(name): tensor \(info.name) has shape \(info.shape), the base \(shapes[info.name].map { "\($0)" } ?? "none")")
            }
            if let missing = base.infos.first(where: { source.info(named: $0.name) == nil }) {
                throw RecallError(.mismatch, "opcm: model \(name) has no tensor \(missing.name), which the base has")
            }
        }
        var psiSquared = 0.0
        var taskSquared = [Double](repeating: 0, count: tasks.count)
        for info in base.infos where info.dtype.isComputeFloat {
            let (psi, squares) = try running(info)
            psiSquared += psi.reduce(0) { $0 + $1 * $1 }
            for i in squares.indices { taskSquared[i] += squares[i] }
        }
        let norms = (previous?.state.norms ?? []) + taskSquared.map { $0.squareRoot() }
        let mean = norms.reduce(0, +) / Double(norms.count)
        let psiNorm = psiSquared.squareRoot()
        state = State(lambda: psiNorm > 0 && mean > 0 ? psiNorm / mean : 1, norms: norms)
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let info = base.info(named: name) else { throw RecallError(.notFound, "opcm merge has no tensor \(name)") }
        guard info.dtype.isComputeFloat else { return try base.tensor(named: name) }
        let (psi, _) = try running(info)
        let baseValues = try base.tensor(named: name).toFloat32()
        let inverse = 1 / state.lambda
        var out = baseValues
        for k in out.indices where psi[k] != 0 { out[k] = Float(Double(baseValues[k]) + psi[k] * inverse) }
        return TensorView(name: name, shape: info.shape, float32: out, as: outputDType ?? info.dtype)
    }

    /// `Ψ_T` of one tensor (`elementCount` doubles) and each new task's `‖τ_i‖²` on it.
    func running(_ info: TensorInfo) throws -> (psi: [Double], squares: [Double]) {
        let name = info.name
        let baseValues = try base.tensor(named: name).toFloat32()
        func taskVector(_ source: TensorSource, scale: Double = 1) throws -> [Float] {
            let values = try source.tensor(named: name).toFloat32()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw RecallError(.invalidFile, "opcm: tensor \(name) holds \(values[bad]) at element \(bad); refusing to merge non-finite weights")
            }
            return zip(values, baseValues).map { Float(scale * Double($0 - $1)) }
        }
        var items: [TaskMatrix] = []
        if let previous { items.append(.dense(try taskVector(previous.source, scale: previous.state.lambda))) }
        let isMatrix = info.shape.count == 2 && info.shape[0] > 0 && info.shape[1] > 0 && !name.contains("embed")
        for task in tasks {
            if isMatrix, let f = try (task.source as? LowRankDeltaSource)?.lowRankDelta(named: name, over: base) {
                items.append(.factored(f))
            } else {
                items.append(.dense(try taskVector(task.source)))
            }
        }
        let offset = previous == nil ? 0 : 1  // items[offset...] are the new tasks
        if isMatrix {
            let subspace = try TaskSubspace(rows: info.shape[0], cols: info.shape[1], tasks: items)
            let cores = subspace.cores
            var psi = cores[0]
            for core in cores.dropFirst() { psi = psi + (try Self.clean(core, against: psi, alpha: alpha).cleaned) }
            let squares = cores[offset...].map { $0.data.reduce(0) { $0 + $1 * $1 } }
            return (subspace.expand(psi).data, squares)
        }
        let dense = items.map { item -> [Double] in
            if case let .dense(v) = item { return v.map(Double.init) }
            if case let .factored(f) = item { return f.dense().data }
            return []
        }
        var psi = dense[0]
        for d in dense.dropFirst() { for k in psi.indices { psi[k] += d[k] } }
        return (psi, dense[offset...].map { $0.reduce(0) { $0 + $1 * $1 } })
    }

    /// One step's projection: `τ` without its components on `psi`'s dominant block and on
    /// `psi`'s own singular directions. Returns the cleaned `τ`, the split `k` and `rank Ψ`.
    public static func clean(_ tau: DMatrix, against psi: DMatrix, alpha: Double) throws -> (cleaned: DMatrix, split: Int, rank: Int) {
        let (u, s, vt) = try thinSVD(psi)
        let rho = TaskSubspace.keptCount(s, reference: psi.frobenius)
        guard rho > 0 else { return (tau, 0, 0) }
        let total = s.reduce(0, +)
        var running = 0.0, split = 0
        for (i, sigma) in s.enumerated() {
            running += sigma
            if running / total > alpha { split = i; break }
        }
        split = min(split, rho)
        let ur = u.columns(0..<rho), vr = vt.rowRange(0..<rho)
        let p = matmul(matmul(ur, tau, transA: true), vr, transB: true)  // ρ x ρ
        var removed = DMatrix(rows: rho, cols: rho)
        for i in 0..<split { for j in 0..<split { removed[i, j] = p[i, j] } }
        for i in 0..<rho { removed[i, i] = p[i, i] }
        return (tau - matmul(matmul(ur, removed), vr), split, rho)
    }
}
