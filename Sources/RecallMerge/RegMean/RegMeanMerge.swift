import COpenBLAS
import Foundation
import RecallTensor
import RecallModel

/// RegMean (Jin et al., ICLR 2023) over Gram sketches, as a lazy `TensorSource`. For every
/// linear weight of a decoder layer (`[out x d]`, input Gram `G_i` of model i):
///
///     W = W0 + (Σ_i w_i ΔW_i G̃_i) (Σ_i w_i G̃_i + ε I)⁻¹,   ΔW_i = W_i − W0,
///     G̃_i = α G_i + (1 − α) diag(G_i),   ε = ridge · mean diag(Σ_i w_i G_i)
///
/// `w_i` are per-layer weights (RECALL's, or 1 for plain RegMean). With the anchor `W0` the
/// head and the head's `G` the running sum of every earlier task's Gram, the same formula is
/// the continual update `W_t = W_{t−1} + ΔW_t G_t (S_{t−1} + G_t)⁻¹` (the head's ΔW is zero).
///
/// The solve never forms a `d x d` matrix: with the sketches `G_i ≈ R_i + L_i L_iᵀ`,
/// `A = Σ w_i G̃_i + ε I = D + U Uᵀ` (D diagonal, `U = [√(α w_i) L_i]`, d x m with m = Σ ranks),
/// and Woodbury gives `M A⁻¹ = Y − (Y U) C⁻¹ (D⁻¹ U)ᵀ` with `Y = M D⁻¹` and the small
/// `C = I + Uᵀ D⁻¹ U` (m x m, Cholesky in double). Cost per tensor: a few `out x d x m` products.
///
/// Every other tensor (embeddings, norms, lm_head, biases) comes from `fallback`, the
/// task-vector fusion over the same inputs. A tensor no input changes is the anchor's own.
public final class RegMeanMerge: TensorSource, StoredTensorReuse, @unchecked Sendable {
    public struct Options: Equatable, Sendable {
        /// Off-diagonal scale of each Gram (RegMean's α).
        public var alpha = 0.9
        /// Ridge relative to the mean diagonal of the summed Gram.
        public var ridge = 1e-3
        public init(alpha: Double = 0.9, ridge: Double = 1e-3) {
            self.alpha = alpha
            self.ridge = ridge
        }
    }

    public struct Input {
        public let name: String
        public let weights: TensorSource
        public let statistics: ActivationStatistics
        public init(name: String, weights: TensorSource, statistics: ActivationStatistics) {
            self.name = name
            self.weights = weights
            self.statistics = statistics
        }
    }

    let anchor: TensorSource
    let inputs: [Input]
    /// `layerWeights[decoder layer][input]`; nil: 1 for every input.
    let layerWeights: [[Double]]?
    let fallback: TensorSource
    let options: Options
    let outputDType: DType?

    public var infos: [TensorInfo] { fallback.infos }
    public var metadata: [(String, String)] { [("recall.merge_method", "regmean")] }

    public init(anchor: TensorSource, inputs: [Input], layerWeights: [[Double]]? = nil, fallback: TensorSource,
                options: Options = Options(), outputDType: DType? = nil) throws {
        guard !inputs.isEmpty else { throw RecallError(.invalidArgument, "RegMean needs at least one model") }
        guard options.alpha >= 0, options.alpha <= 1 else { throw RecallError(.invalidArgument, "regmean alpha must be in [0, 1]") }
        guard options.ridge > 0 else { throw RecallError(.invalidArgument, "regmean ridge must be positive") }
        if let layerWeights, !layerWeights.allSatisfy({ $0.count == inputs.count }) {
            throw RecallError(.invalidArgument, "RegMean layer weights need one entry per model")
        }
        if let layerWeights, layerWeights.contains(where: { $0.contains { !($0 >= 0) } }) {
            throw RecallError(.invalidArgument, "RegMean layer weights must be non-negative (they scale Gram matrices)")
        }
        self.anchor = anchor
        self.inputs = inputs
        self.layerWeights = layerWeights
        self.fallback = fallback
        self.options = options
        self.outputDType = outputDType
    }

    /// A tensor no input changes is the anchor's own (RegMean's and the fallback's alike).
    public func storedTensor(named name: String, in store: any ChunkStore) -> StoredTensor? {
        guard let entry = (anchor as? StoredTensorReuse)?.storedTensor(named: name, in: store),
              outputDType == nil || outputDType == entry.info.dtype || !entry.info.dtype.isComputeFloat else { return nil }
        for input in inputs {
            guard let theirs = (input.weights as? StoredTensorReuse)?.storedTensor(named: name, in: store),
                  theirs.sha256 == entry.sha256, theirs.info == entry.info else { return nil }
        }
        return entry
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let (layer, site) = ActivationSite.of(tensor: name),
              inputs.allSatisfy({ $0.statistics.sketch(layer: layer, site: site) != nil }) else {
            return try fallback.tensor(named: name)
        }
        let w0 = try anchor.tensor(named: name)
        guard w0.shape.count == 2 else { return try fallback.tensor(named: name) }
        let (out, d) = (w0.shape[0], w0.shape[1])
        let sketches = inputs.map { $0.statistics.sketch(layer: layer, site: site)! }
        guard sketches.allSatisfy({ $0.dim == d }) else {
            throw RecallError(.mismatch, "RegMean: the statistics of \(name) have width \(sketches[0].dim), the weight \(d); the statistics were taken on another architecture")
        }
        let weights = layerWeights.map { $0[min(layer, $0.count - 1)] } ?? [Double](repeating: 1, count: inputs.count)
        let anchorValues = try w0.toFloat32()
        let delta = try RegMeanSolve(alpha: options.alpha, ridge: options.ridge).delta(
            rows: out, dim: d, sketches: sketches, weights: weights,
            taskVector: { i, into in
                try self.inputs[i].weights.tensor(named: name).copyFloat32(into: into)
                var changed = false
                for j in 0..<into.count {
                    into[j] -= anchorValues[j]
                    if into[j] != 0 { changed = true }
                }
                return changed
            })
        guard var values = delta else { return w0.converted(to: outputDType ?? w0.dtype).renamed(name) }
        for j in values.indices { values[j] += anchorValues[j] }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw RecallError(.invalidArgument, "RegMean: \(name) element \(bad) is not finite; raise the ridge (option ridge)")
        }
        return TensorView(name: name, shape: w0.shape, float32: values, as: outputDType ?? w0.dtype)
    }
}

/// The arithmetic of one RegMean tensor (see `RegMeanMerge`), separate so a test can hold it
/// against a numpy reference of the dense formula.
public struct RegMeanSolve: Sendable {
    public var alpha: Double
    public var ridge: Double
    public init(alpha: Double, ridge: Double) {
        self.alpha = alpha
        self.ridge = ridge
    }

    /// `(Σ w_i ΔW_i G̃_i)(Σ w_i G̃_i + εI)⁻¹` as `rows x dim` floats, or nil when every task
    /// vector is zero. `taskVector(i, buffer)` writes `ΔW_i` and says whether it is non-zero.
    public func delta(rows out: Int, dim d: Int, sketches: [GramSketch], weights: [Double],
                      taskVector: (Int, UnsafeMutableBufferPointer<Float>) throws -> Bool) throws -> [Float]? {
        let m = sketches.reduce(0) { $0 + $1.rank }
        // D: the diagonal part of Σ w_i G̃_i, plus the ridge.
        var diag = [Double](repeating: 0, count: d)
        var fullDiag = 0.0
        var perModelDiag: [[Float]] = []
        for (s, w) in zip(sketches, weights) {
            var part = [Float](repeating: 0, count: d)
            for j in 0..<d {
                var q = 0.0
                for c in 0..<s.rank { let v = Double(s.factor[j * s.rank + c]); q += v * v }
                let r = Double(s.residual[j])
                part[j] = Float(r + (1 - alpha) * q)
                diag[j] += w * (r + (1 - alpha) * q)
                fullDiag += w * (r + q)
            }
            perModelDiag.append(part)
        }
        let epsilon = max(ridge * fullDiag / Double(max(d, 1)), 1e-30)
        for j in 0..<d { diag[j] += epsilon }

        // M = Σ w_i [ΔW_i diag(part_i) + α (ΔW_i L_i) L_iᵀ].
        var mmat = [Float](repeating: 0, count: out * d)
        var buffer = [Float](repeating: 0, count: out * d)
        var any = false
        for (i, s) in sketches.enumerated() where weights[i] != 0 {
            let changed = try buffer.withUnsafeMutableBufferPointer { try taskVector(i, $0) }
            guard changed else { continue }
            any = true
            let w = Float(weights[i])
            let part = perModelDiag[i]
            for r in 0..<out {
                let row = r * d
                for j in 0..<d { mmat[row + j] += w * buffer[row + j] * part[j] }
            }
            if s.rank > 0 {
                var p = [Float](repeating: 0, count: out * s.rank)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(out), Int32(s.rank), Int32(d), 1,
                            buffer, Int32(d), s.factor, Int32(s.rank), 0, &p, Int32(s.rank))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(out), Int32(d), Int32(s.rank), Float(alpha) * w,
                            p, Int32(s.rank), s.factor, Int32(s.rank), 1, &mmat, Int32(d))
            }
        }
        guard any else { return nil }

        // From here in double: with an (almost) exact sketch D is little more than the ridge, and
        // Y − T Vᵀ cancels by a factor up to (ε + λ)/ε, which float32 would not survive.
        // Y = M D⁻¹.
        var y = [Double](repeating: 0, count: out * d)
        for r in 0..<out { for j in 0..<d { y[r * d + j] = Double(mmat[r * d + j]) / diag[j] } }
        mmat = []
        guard m > 0 else { return y.map(Float.init) }

        // U = [√(α w_i) L_i] and V = D⁻¹ U (d x m).
        var u = [Double](repeating: 0, count: d * m), v = [Double](repeating: 0, count: d * m)
        var col = 0
        for (s, w) in zip(sketches, weights) {
            let scale = (alpha * w).squareRoot()
            for j in 0..<d {
                for c in 0..<s.rank {
                    let value = scale * Double(s.factor[j * s.rank + c])
                    u[j * m + col + c] = value
                    v[j * m + col + c] = value / diag[j]
                }
            }
            col += s.rank
        }
        // C = I + Uᵀ D⁻¹ U (m x m, Cholesky).
        var c = [Double](repeating: 0, count: m * m)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(m), Int32(d), 1, u, Int32(m), v, Int32(m), 0, &c, Int32(m))
        for a in 0..<m { c[a * m + a] += 1 }
        // Z = Y U (out x m), then T = Z C⁻¹ (C symmetric: solve C Tᵀ = Zᵀ, Zᵀ column-major is Z row-major).
        var t = [Double](repeating: 0, count: out * m)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(out), Int32(m), Int32(d), 1, y, Int32(d), u, Int32(m), 0, &t, Int32(m))
        var n = Int32(m), nrhs = Int32(out), lda = Int32(m), ldb = Int32(m), info: Int32 = 0
        dpotrf_("L", &n, &c, &lda, &info)
        guard info == 0 else { throw RecallError(.invalidArgument, "RegMean: the Gram system is not positive definite (info \(info)); raise the ridge") }
        dpotrs_("L", &n, &nrhs, c, &lda, &t, &ldb, &info)
        guard info == 0 else { throw RecallError(.invalidArgument, "RegMean: the Gram solve failed (info \(info))") }
        // Δ = Y − T Vᵀ.
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(out), Int32(d), Int32(m), -1, t, Int32(m), v, Int32(m), 1, &y, Int32(d))
        return y.map(Float.init)
    }
}
