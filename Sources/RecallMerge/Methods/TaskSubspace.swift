import COpenBLAS
import Foundation
import RecallTensor

/// A low-rank update of one `rows x cols` matrix, `ΔW = scale · B A` (B `rows x rank`, A
/// `rank x cols`, row-major), as PEFT stores a LoRA module.
public struct LowRankFactors: Sendable {
    public let rows, cols, rank: Int
    public let b: [Float]
    public let a: [Float]
    public let scale: Double
    public init(rows: Int, cols: Int, rank: Int, b: [Float], a: [Float], scale: Double) {
        precondition(b.count == rows * rank && a.count == rank * cols, "LowRankFactors: B and A do not fit rows x rank x cols")
        self.rows = rows
        self.cols = cols
        self.rank = rank
        self.b = b
        self.a = a
        self.scale = scale
    }
}

/// A model that knows some of its tensors as a low-rank update of a base model (a LoRA adapter
/// applied to it), so the subspace methods can work from the factors instead of the matrix.
public protocol LowRankDeltaSource: TensorSource {
    /// Tensor `name`'s update over `base` as factors (rank 0 when it is the base's own tensor),
    /// or nil when it is not known as a low-rank update of that very base object.
    func lowRankDelta(named name: String, over base: TensorSource) throws -> LowRankFactors?
}

extension LoRAApplier: LowRankDeltaSource {
    public func lowRankDelta(named name: String, over other: TensorSource) throws -> LowRankFactors? {
        guard (other as AnyObject) === (base as AnyObject), replaced[name] == nil,
              let info = base.info(named: name), info.shape.count == 2 else { return nil }
        let (rows, cols) = (info.shape[0], info.shape[1])
        guard let m = merges[name] else { return LowRankFactors(rows: rows, cols: cols, rank: 0, b: [], a: [], scale: 1) }
        guard m.layout == .linear else { return nil }  // (B A)ᵀ updates (embeddings, fan_in_fan_out): dense path
        return LowRankFactors(rows: rows, cols: cols, rank: m.rank, b: try adapter.weights.tensor(named: m.loraB).toFloat32(),
                              a: try adapter.weights.tensor(named: m.loraA).toFloat32(), scale: m.scaling)
    }
}

/// One task vector of a matrix: dense (`rows x cols` row-major) or LoRA-factored.
public enum TaskMatrix {
    case dense([Float])
    case factored(LowRankFactors)
}

/// The task vectors of one `rows x cols` matrix in shared orthonormal coordinates,
/// `τ_t = L C_t Rᵀ`, so the subspace methods (Iso-C, Iso-CTS, TSV-M, OPCM) run their SVDs on the
/// small cores `C_t` (`p x q`) instead of the matrix.
///
/// - Every task LoRA-factored (`τ_t = s_t B_t A_t`, rank `r_t`, `R = Σ r_t`): `L` is the Q of the QR
///   of the stacked `[s_1 B_1 … s_T B_T]` (`rows x R`), `R` that of `[A_1ᵀ … A_Tᵀ]` (`cols x R`), and
///   `C_t = (Lᵀ s_t B_t)(A_t R)` (`R x R`). `L` and `R` have orthonormal columns spanning every task's
///   column and row space, so the SVD of any combination of the `C_t` is that of the same combination
///   of the `τ_t` with `L u` and `R v` for its singular vectors: cost `O((rows + cols) R²)`, never
///   an SVD of the `rows x cols` matrix. (A side with `R >= rows` keeps the identity.)
/// - Any task dense: `L = R = I` and `C_t = τ_t` (the dense path, one `rows x cols` double copy per
///   task; fine for small matrices, an SVD per matrix of full size otherwise).
///
/// Zero singular values: a rank-deficient matrix (every LoRA sum) has singular vectors for its
/// zero singular values that are any orthonormal completion, and the published dense formulas
/// would use them. The methods keep only triplets with `σ > tolerance · ‖M‖_F` (`keptCount`),
/// which for full-rank matrices (full fine-tuning) is exactly the published code and for
/// rank-deficient ones the only basis-independent reading; below F32 resolution either way.
public struct TaskSubspace {
    public let rows, cols: Int
    /// `rows x p` with orthonormal columns; nil is the identity (`p = rows`).
    let left: DMatrix?
    /// `cols x q` with orthonormal columns; nil is the identity (`q = cols`).
    let right: DMatrix?
    public var cores: [DMatrix]
    public static let tolerance = 1e-6

    public var isCoreSpace: Bool { left != nil || right != nil }
    public var taskCount: Int { cores.count }

    public init(rows: Int, cols: Int, tasks: [TaskMatrix]) throws {
        self.rows = rows
        self.cols = cols
        var factors: [LowRankFactors] = []
        for t in tasks {
            if case let .factored(f) = t {
                guard f.rows == rows, f.cols == cols else {
                    throw RecallError(.mismatch, "low-rank factors of a \(f.rows) x \(f.cols) update given for a \(rows) x \(cols) matrix")
                }
                factors.append(f)
            }
        }
        let total = factors.reduce(0) { $0 + $1.rank }
        guard factors.count == tasks.count, total < rows || total < cols else {
            // Dense path: every task as a rows x cols double matrix.
            left = nil
            right = nil
            cores = try tasks.map { t in
                switch t {
                case let .dense(values):
                    guard values.count == rows * cols else {
                        throw RecallError(.mismatch, "a task vector of \(values.count) elements given for a \(rows) x \(cols) matrix")
                    }
                    return DMatrix(rows: rows, cols: cols, data: values.map(Double.init))
                case let .factored(f):
                    return f.dense()
                }
            }
            return
        }
        // Stack s_t B_t side by side (rows x R) and A_tᵀ side by side (cols x R).
        var bStack = DMatrix(rows: rows, cols: total), aStack = DMatrix(rows: cols, cols: total)
        var col = 0
        for f in factors {
            for i in 0..<rows { for c in 0..<f.rank { bStack.data[i * total + col + c] = f.scale * Double(f.b[i * f.rank + c]) } }
            for c in 0..<f.rank { for j in 0..<cols { aStack.data[j * total + col + c] = Double(f.a[c * cols + j]) } }
            col += f.rank
        }
        let l = total < rows ? try orthonormalBasis(bStack) : nil
        let r = total < cols ? try orthonormalBasis(aStack) : nil
        left = l
        right = r
        // C_t = (Lᵀ s_t B_t)(A_t R): the t-th column block of LᵀB-stack times that of (R-side)ᵀ.
        let lb = l.map { matmul($0, bStack, transA: true) } ?? bStack        // p x R
        let ar = r.map { matmul($0, aStack, transA: true) } ?? aStack        // q x R
        col = 0
        var cores: [DMatrix] = []
        for f in factors {
            let lbt = lb.columns(col..<(col + f.rank)), art = ar.columns(col..<(col + f.rank))
            cores.append(matmul(lbt, art, transB: true))
            col += f.rank
        }
        self.cores = cores
    }

    /// `L core Rᵀ` as a `rows x cols` matrix.
    public func expand(_ core: DMatrix) -> DMatrix {
        var m = core
        if let left { m = matmul(left, m) }
        if let right { m = matmul(m, right, transB: true) }
        return m
    }

    /// How many leading singular values count: `σ > tolerance · reference` (reference: a
    /// Frobenius norm; `s` descending).
    public static func keptCount(_ s: [Double], reference: Double) -> Int {
        guard reference > 0 else { return 0 }
        return s.prefix { $0 > tolerance * reference }.count
    }

    /// The polar factor of `x` on its range: `P Qᵀ` for `x = P Σ Qᵀ`, zero singular values dropped.
    static func polar(_ x: DMatrix) throws -> DMatrix {
        let (u, s, vt) = try thinSVD(x)
        let r = keptCount(s, reference: x.frobenius)
        return matmul(u.columns(0..<r), vt.rowRange(0..<r))
    }
}

extension LowRankFactors {
    /// The best rank-`rank` factors of a dense `rows x cols` task vector, by a randomized range
    /// finder (Halko, Martinsson & Tropp 2011, alg. 4.4: `rank + p` Gaussian probes, two power
    /// iterations, p = 8 oversampling) then the SVD of the small `(rank + p) x cols` projection:
    /// `O(rows · cols · (rank + p))`, never the full SVD. For a LoRA expert stored as full weights,
    /// the update is its rank-r part plus the storage dtype's rounding, which is full rank; this
    /// keeps the former. Seeded, so a merge is reproducible. Small matrices (`rank + p` not below
    /// min(rows, cols)) take the exact truncated SVD.
    static func recovered(from tau: DMatrix, rank: Int, seed: UInt64) throws -> LowRankFactors {
        let (m, n) = (tau.rows, tau.cols)
        let r = min(rank, m, n)
        let probes = r + min(8, max(0, min(m, n) - r - 1))
        let (q, small): (DMatrix?, DMatrix)
        if probes >= min(m, n) {
            (q, small) = (nil, tau)
        } else {
            var rng = SplitMix(seed: seed)
            var omega = DMatrix(rows: n, cols: probes)
            for k in omega.data.indices {
                // Box-Muller from two uniforms in (0, 1].
                let u1 = Double(rng.next() >> 11 + 1) / Double(1 << 53), u2 = Double(rng.next() >> 11) / Double(1 << 53)
                omega.data[k] = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            }
            var basis = try orthonormalBasis(matmul(tau, omega))
            for _ in 0..<2 {
                let z = try orthonormalBasis(matmul(tau, basis, transA: true))
                basis = try orthonormalBasis(matmul(tau, z))
            }
            (q, small) = (basis, matmul(basis, tau, transA: true))
        }
        let (u, s, vt) = try thinSVD(small)
        let kept = min(r, s.count)
        var left = u.columns(0..<kept)
        for i in 0..<left.rows { for j in 0..<kept { left[i, j] *= s[j] } }
        if let q { left = matmul(q, left) }
        return LowRankFactors(rows: m, cols: n, rank: kept, b: left.data.map { Float($0) },
                              a: vt.rowRange(0..<kept).data.map { Float($0) }, scale: 1)
    }

    /// `scale · B A` in double.
    func dense() -> DMatrix {
        let b = DMatrix(rows: rows, cols: rank, data: self.b.map { scale * Double($0) })
        let a = DMatrix(rows: rank, cols: cols, data: self.a.map(Double.init))
        return matmul(b, a)
    }
}

/// A row-major matrix of doubles: the small dense algebra of the subspace merge methods.
public struct DMatrix: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    public var data: [Double]

    public init(rows: Int, cols: Int, data: [Double]? = nil) {
        self.rows = rows
        self.cols = cols
        self.data = data ?? [Double](repeating: 0, count: rows * cols)
        precondition(self.data.count == rows * cols, "DMatrix: \(self.data.count) values for \(rows) x \(cols)")
    }

    public subscript(i: Int, j: Int) -> Double {
        get { data[i * cols + j] }
        set { data[i * cols + j] = newValue }
    }

    public var frobenius: Double { data.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    public var transposed: DMatrix {
        var t = DMatrix(rows: cols, cols: rows)
        for i in 0..<rows { for j in 0..<cols { t.data[j * rows + i] = data[i * cols + j] } }
        return t
    }

    func columns(_ range: Range<Int>) -> DMatrix {
        var m = DMatrix(rows: rows, cols: range.count)
        for i in 0..<rows { for (c, j) in range.enumerated() { m.data[i * range.count + c] = data[i * cols + j] } }
        return m
    }

    func rowRange(_ range: Range<Int>) -> DMatrix {
        DMatrix(rows: range.count, cols: cols, data: Array(data[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    static func + (a: DMatrix, b: DMatrix) -> DMatrix {
        DMatrix(rows: a.rows, cols: a.cols, data: zip(a.data, b.data).map { $0 + $1 })
    }

    static func - (a: DMatrix, b: DMatrix) -> DMatrix {
        DMatrix(rows: a.rows, cols: a.cols, data: zip(a.data, b.data).map { $0 - $1 })
    }

    static func * (s: Double, a: DMatrix) -> DMatrix {
        DMatrix(rows: a.rows, cols: a.cols, data: a.data.map { s * $0 })
    }

    /// Side-by-side concatenation (every block has the same number of rows).
    static func hstack(_ blocks: [DMatrix], rows: Int) -> DMatrix {
        let total = blocks.reduce(0) { $0 + $1.cols }
        var m = DMatrix(rows: rows, cols: total)
        var col = 0
        for b in blocks {
            for i in 0..<rows { for j in 0..<b.cols { m.data[i * total + col + j] = b.data[i * b.cols + j] } }
            col += b.cols
        }
        return m
    }
}

/// `op(a) op(b)` by OpenBLAS dgemm.
func matmul(_ a: DMatrix, _ b: DMatrix, transA: Bool = false, transB: Bool = false) -> DMatrix {
    let m = transA ? a.cols : a.rows, k = transA ? a.rows : a.cols
    let n = transB ? b.rows : b.cols, kb = transB ? b.cols : b.rows
    precondition(k == kb, "matmul: inner sizes \(k) and \(kb) differ")
    var c = DMatrix(rows: m, cols: n)
    guard m > 0, n > 0, k > 0 else { return c }
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a.data, Int32(max(a.cols, 1)), b.data, Int32(max(b.cols, 1)),
                0, &c.data, Int32(n))
    return c
}

/// Thin SVD `a = u diag(s) vt` (u `rows x k`, vt `k x cols`, k = min(rows, cols), s descending)
/// by LAPACK dgesdd. The row-major `a` is the column-major `aᵀ`, whose SVD `aᵀ = U' S V'ᵀ` hands
/// back `u = V'` and `vt = U'ᵀ`, which in memory are exactly LAPACK's `VT'` and `U'`.
func thinSVD(_ a: DMatrix) throws -> (u: DMatrix, s: [Double], vt: DMatrix) {
    let k = min(a.rows, a.cols)
    guard k > 0 else { return (DMatrix(rows: a.rows, cols: 0), [], DMatrix(rows: 0, cols: a.cols)) }
    var m = Int32(a.cols), n = Int32(a.rows), lda = m, ldu = m, ldvt = Int32(k)
    var work = a.data
    var s = [Double](repeating: 0, count: k)
    var uPrime = [Double](repeating: 0, count: a.cols * k), vtPrime = [Double](repeating: 0, count: k * a.rows)
    var iwork = [Int32](repeating: 0, count: 8 * k)
    var info: Int32 = 0, lwork: Int32 = -1, query = 0.0
    dgesdd_("S", &m, &n, &work, &lda, &s, &uPrime, &ldu, &vtPrime, &ldvt, &query, &lwork, &iwork, &info)
    guard info == 0 else { throw RecallError(.invalidArgument, "SVD of a \(a.rows) x \(a.cols) matrix: LAPACK dgesdd workspace query failed (info \(info))") }
    lwork = Int32(query)
    var scratch = [Double](repeating: 0, count: max(Int(lwork), 1))
    dgesdd_("S", &m, &n, &work, &lda, &s, &uPrime, &ldu, &vtPrime, &ldvt, &scratch, &lwork, &iwork, &info)
    guard info == 0 else {
        throw RecallError(.invalidArgument, "SVD of a \(a.rows) x \(a.cols) matrix did not converge (LAPACK dgesdd info \(info)); are the weights finite?")
    }
    return (DMatrix(rows: a.rows, cols: k, data: vtPrime), s, DMatrix(rows: k, cols: a.cols, data: uPrime))
}

/// An orthonormal basis of the columns of a tall `x` (`rows x c`, c < rows): the Q of its
/// Householder QR (LAPACK dgeqrf + dorgqr), `rows x c`.
func orthonormalBasis(_ x: DMatrix) throws -> DMatrix {
    precondition(x.cols < x.rows, "orthonormalBasis: needs a tall matrix")
    guard x.cols > 0 else { return DMatrix(rows: x.rows, cols: 0) }
    var m = Int32(x.rows), n = Int32(x.cols), lda = m
    var a = x.transposed.data  // column-major x
    var tau = [Double](repeating: 0, count: x.cols)
    var info: Int32 = 0, lwork: Int32 = -1, query = 0.0
    dgeqrf_(&m, &n, &a, &lda, &tau, &query, &lwork, &info)
    lwork = Int32(max(query, 1))
    var work = [Double](repeating: 0, count: Int(lwork))
    dgeqrf_(&m, &n, &a, &lda, &tau, &work, &lwork, &info)
    guard info == 0 else { throw RecallError(.invalidArgument, "QR of a \(x.rows) x \(x.cols) factor stack failed (LAPACK dgeqrf info \(info))") }
    lwork = -1
    var k = n
    dorgqr_(&m, &n, &k, &a, &lda, tau, &query, &lwork, &info)
    lwork = Int32(max(query, 1))
    work = [Double](repeating: 0, count: Int(lwork))
    dorgqr_(&m, &n, &k, &a, &lda, tau, &work, &lwork, &info)
    guard info == 0 else { throw RecallError(.invalidArgument, "QR of a \(x.rows) x \(x.cols) factor stack failed (LAPACK dorgqr info \(info))") }
    return DMatrix(rows: x.cols, cols: x.rows, data: a).transposed
}
