import COpenBLAS
import Foundation
import RecallTensor

/// The second moment `G = Xᵀ X` of one linear module's inputs (`X`: `n` token rows of width
/// `d`), kept small enough to cache per task at 7B scale: an exact diagonal plus a rank-`k`
/// factor,
///
///     G ≈ diag(residual) + L Lᵀ,    L: d x k (the top-k eigenpairs, L = V_k Λ_k^½),
///     residual = diag(G) − rowsumsq(L)  (so the diagonal of the sketch is exactly G's).
///
/// Cost: `d·(k + 1)` floats, against `d²` for the dense Gram (`k = 24` on SmolLM2: 25/576 of a
/// dense attention-input Gram; on a 7B shape 25/4096). The top-k comes from the smaller side:
/// `X Xᵀ` (`n x n`) when there are fewer tokens than the width, else `Xᵀ X` (`d x d`).
///
/// RegMean only ever needs `α G + (1 − α) diag(G)` (off-diagonals scaled by α), which a sketch
/// gives as `α L Lᵀ + diag(residual + (1 − α) rowsumsq(L))` without forming anything `d x d`.
public struct GramSketch: Equatable, Sendable {
    public let dim: Int
    /// Columns of `factor`.
    public let rank: Int
    /// `L`, row-major `dim x rank` (row j belongs to input coordinate j).
    public var factor: [Float]
    /// `diag(G) − rowsumsq(L)`, clamped at zero.
    public var residual: [Float]
    /// Token rows summed into this sketch.
    public var rows: Int

    public init(dim: Int, rank: Int, factor: [Float], residual: [Float], rows: Int) {
        precondition(factor.count == dim * rank && residual.count == dim)
        self.dim = dim
        self.rank = rank
        self.factor = factor
        self.residual = residual
        self.rows = rows
    }

    /// The exact diagonal of the sketched Gram.
    public var diagonal: [Float] {
        (0..<dim).map { j in
            var s = residual[j]
            for c in 0..<rank { s += factor[j * rank + c] * factor[j * rank + c] }
            return s
        }
    }

    /// The dense matrix the sketch stands for (tests and small dims only).
    public func dense() -> [Double] {
        var g = [Double](repeating: 0, count: dim * dim)
        for i in 0..<dim {
            for j in 0..<dim {
                var s = 0.0
                for c in 0..<rank { s += Double(factor[i * rank + c]) * Double(factor[j * rank + c]) }
                g[i * dim + j] = s
            }
            g[i * dim + i] += Double(residual[i])
        }
        return g
    }

    /// Sketch of `Xᵀ X` for `rows` rows of `x` (row-major, leading dimension `ld`).
    public static func of(_ x: UnsafePointer<Float>, rows n: Int, dim d: Int, ld: Int, rank: Int) throws -> GramSketch {
        var diag = [Double](repeating: 0, count: d)
        for r in 0..<n {
            let row = x + r * ld
            for j in 0..<d { diag[j] += Double(row[j]) * Double(row[j]) }
        }
        let k = min(rank, n, d)
        var factor = [Float](repeating: 0, count: d * k)
        if k > 0 {
            var xd = [Double](repeating: 0, count: n * d)
            for r in 0..<n { for j in 0..<d { xd[r * d + j] = Double(x[r * ld + j]) } }
            if n <= d {
                factor = try topFactor(rows: xd, count: n, dim: d, rank: k)
            } else {
                var g = [Double](repeating: 0, count: d * d)
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, xd, Int32(d), 0, &g, Int32(d))
                let (values, vectors) = try topEigenpairs(&g, n: d, count: k)
                for j in 0..<d { for c in 0..<k { factor[j * k + c] = Float(vectors[c * d + j] * max(values[c], 0).squareRoot()) } }
            }
        }
        return finish(dim: d, rank: k, factor: factor, diagonal: diag, rows: n)
    }

    /// `Σ weights[i] · sketches[i]`, compressed back to `rank`: the stacked factors
    /// `[√w_i L_i]` are reduced to their top-`rank` directions (eigen of the small `m x m`
    /// `Lᵀ L`); what the truncation drops from the diagonal moves into the residual, so the sum's
    /// diagonal stays exact.
    public static func sum(_ sketches: [GramSketch], weights: [Double]? = nil, rank: Int) throws -> GramSketch {
        guard let d = sketches.first?.dim else { throw RecallError(.invalidArgument, "a sum of Gram sketches needs at least one") }
        guard sketches.allSatisfy({ $0.dim == d }) else {
            throw RecallError(.mismatch, "Gram sketches of widths \(Set(sketches.map(\.dim)).sorted()) cannot be added")
        }
        let w = weights ?? [Double](repeating: 1, count: sketches.count)
        var diag = [Double](repeating: 0, count: d)
        let m = sketches.reduce(0) { $0 + $1.rank }
        // Row c of `stacked` is the c-th column of [√w_i L_i] (m x d), so the sum is stackedᵀ stacked.
        var stacked = [Double](repeating: 0, count: max(m, 1) * d)
        var col = 0
        for (s, wi) in zip(sketches, w) {
            let sw = wi.squareRoot()
            for j in 0..<d {
                diag[j] += wi * Double(s.residual[j])
                for c in 0..<s.rank {
                    let v = Double(s.factor[j * s.rank + c])
                    diag[j] += wi * v * v
                    stacked[(col + c) * d + j] = sw * v
                }
            }
            col += s.rank
        }
        let k = min(rank, m)
        let factor = k > 0 ? try topFactor(rows: stacked, count: m, dim: d, rank: k) : []
        return finish(dim: d, rank: k, factor: factor, diagonal: diag, rows: sketches.reduce(0) { $0 + $1.rows })
    }

    /// For `a` (`count x dim` row-major, its rows the vectors whose outer products sum to
    /// `G = aᵀ a`): the rank-k factor of G's top eigenpairs, `L = aᵀ V_k` (d x k), from the
    /// eigenvectors V of the small `a aᵀ` (count x count).
    static func topFactor(rows a: [Double], count m: Int, dim d: Int, rank k: Int) throws -> [Float] {
        var small = [Double](repeating: 0, count: m * m)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(d), 1, a, Int32(d), 0, &small, Int32(m))
        let (_, vectors) = try topEigenpairs(&small, n: m, count: k)
        // L[j][c] = Σ_r a[r][j] V[r][c]; vectors are column-major m x k.
        var l = [Double](repeating: 0, count: d * k)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, Int32(d), Int32(k), Int32(m), 1, a, Int32(d),
                    vectors, Int32(m), 0, &l, Int32(k))
        return l.map(Float.init)
    }

    private static func finish(dim d: Int, rank k: Int, factor: [Float], diagonal: [Double], rows: Int) -> GramSketch {
        var residual = [Float](repeating: 0, count: d)
        for j in 0..<d {
            var s = 0.0
            for c in 0..<k { s += Double(factor[j * k + c]) * Double(factor[j * k + c]) }
            residual[j] = Float(max(diagonal[j] - s, 0))
        }
        return GramSketch(dim: d, rank: k, factor: factor, residual: residual, rows: rows)
    }

    /// The `count` largest eigenvalues (descending) of the symmetric `n x n` matrix `a` (its
    /// upper triangle in row-major order, i.e. the lower in LAPACK's column-major view) and
    /// their eigenvectors, column-major `n x count`. `a` is destroyed.
    static func topEigenpairs(_ a: inout [Double], n: Int, count: Int) throws -> (values: [Double], vectors: [Double]) {
        var nn = Int32(n), lda = Int32(n), il = Int32(n - count + 1), iu = Int32(n), found: Int32 = 0, info: Int32 = 0
        var vl = 0.0, vu = 0.0, abstol = 0.0
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * count)
        var ldz = Int32(n)
        var isuppz = [Int32](repeating: 0, count: 2 * max(count, 1))
        var lwork: Int32 = -1, liwork: Int32 = -1
        var wq = 0.0
        var iwq: Int32 = 0
        dsyevr_("V", "I", "L", &nn, &a, &lda, &vl, &vu, &il, &iu, &abstol, &found, &w, &z, &ldz, &isuppz, &wq, &lwork, &iwq, &liwork, &info)
        lwork = Int32(wq)
        liwork = iwq
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevr_("V", "I", "L", &nn, &a, &lda, &vl, &vu, &il, &iu, &abstol, &found, &w, &z, &ldz, &isuppz, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0, Int(found) == count else {
            throw RecallError(.invalidArgument, "activation statistics: the eigen solver failed (info \(info)); the inputs hold non-finite values")
        }
        // Ascending from LAPACK: reverse to descending.
        var values = [Double](repeating: 0, count: count), vectors = [Double](repeating: 0, count: n * count)
        for c in 0..<count {
            values[c] = w[count - 1 - c]
            for r in 0..<n { vectors[c * n + r] = z[(count - 1 - c) * n + r] }
        }
        return (values, vectors)
    }
}

// MARK: - Bytes

extension GramSketch {
    /// `u32 dim, u32 rank, u32 rows`, then the residual and the factor as little-endian f32.
    public var serialized: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(12 + 4 * (dim + factor.count))
        for v in [UInt32(dim), UInt32(rank), UInt32(truncatingIfNeeded: rows)] { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        residual.withUnsafeBytes { out += $0 }
        factor.withUnsafeBytes { out += $0 }
        return out
    }

    /// Reads one sketch at `offset`, advancing it; `source` names the bytes in errors.
    public static func read(_ bytes: UnsafeRawBufferPointer, offset: inout Int, source: String) throws -> GramSketch {
        func u32() throws -> Int {
            guard offset + 4 <= bytes.count else { throw RecallError(.invalidFile, "\(source): truncated Gram sketch; run gc and register again") }
            defer { offset += 4 }
            return Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        let d = try u32(), k = try u32(), rows = try u32()
        let floats = d + d * k
        guard k <= d, offset + 4 * floats <= bytes.count else {
            throw RecallError(.invalidFile, "\(source): truncated Gram sketch (width \(d), rank \(k)); run gc and register again")
        }
        func floatsAt(_ count: Int) -> [Float] {
            defer { offset += 4 * count }
            return [Float](unsafeUninitializedCapacity: count) { buf, n in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4 * count)]))
                n = count
            }
        }
        let residual = floatsAt(d)
        let factor = floatsAt(d * k)
        return GramSketch(dim: d, rank: k, factor: factor, residual: residual, rows: rows)
    }
}
