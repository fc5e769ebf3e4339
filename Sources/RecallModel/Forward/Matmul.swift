import COpenBLAS
import Foundation
import RecallTensor

/// F32 matrix products through OpenBLAS `cblas_sgemm` (row-major throughout).
///
/// OpenBLAS threads every large product over the cores itself; the engine never calls it from
/// two threads at once.
enum Matmul {
    /// `y[rows x outDim] = x[rows x inDim] · w[outDim x inDim]ᵀ` (HF `nn.Linear` layout), or
    /// `y += ...` when `accumulate` (used to add projections straight into the residual stream).
    static func linear(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, inDim: Int,
                       weight w: UnsafePointer<Float>, outDim: Int,
                       into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
        guard rows > 0, outDim > 0 else { return }
        let start = MatmulProfile.enabled ? DispatchTime.now().uptimeNanoseconds : 0
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(rows), Int32(outDim), Int32(inDim),
                    1, x, Int32(ldx), w, Int32(inDim),
                    accumulate ? 1 : 0, y, Int32(ldy))
        if MatmulProfile.enabled {
            MatmulProfile.record(flops: 2 * Double(rows) * Double(outDim) * Double(inDim),
                                 nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        }
    }

    /// `y (+)= x · Wᵀ` for a few rows straight from stored weights (F32, F16 or BF16, possibly
    /// memory-mapped and unaligned), without an F32 copy of `W`: the decode-time product, bound
    /// by reading the weights once. `weights` are stacked along the output dimension (e.g. q,
    /// k, v), all `[out_i x inDim]`. Split over the cores by output rows.
    static func linearDirect(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, inDim: Int, weights: [TensorView],
                             into y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
        var column = 0
        for w in weights {
            let out = w.shape[0]
            let dtype = w.dtype
            let base = w.bytes.baseAddress!
            let rowBytes = inDim * dtype.byteSize
            let yc = y + column
            Parallel.forChunks(count: out, elementBytes: rowBytes, minBytesPerChunk: 1 << 18) { start, n in
                for o in start..<(start + n) {
                    let wr = base + o * rowBytes
                    for r in 0..<rows {
                        let d = dot(wr, dtype, x + r * ldx, inDim)
                        if accumulate { yc[r * ldy + o] += d } else { yc[r * ldy + o] = d }
                    }
                }
            }
            column += out
        }
    }

    /// Dot product of one stored weight row with F32 values.
    @inline(__always)
    static func dot(_ w: UnsafeRawPointer, _ dtype: DType, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        var acc = V()
        var i = 0
        let xr = UnsafeRawPointer(x)
        switch dtype {
        case .bf16:
            while i + 16 <= n {
                let h = SIMD16<UInt32>(truncatingIfNeeded: w.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self))
                acc += unsafeBitCast(FloatConversion.bf16ToF32Bits(h), to: V.self) * xr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                i += 16
            }
        case .f16:
            while i + 16 <= n {
                let h = SIMD16<UInt32>(truncatingIfNeeded: w.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self))
                acc += unsafeBitCast(FloatConversion.f16ToF32Bits(h), to: V.self) * xr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                i += 16
            }
        default:
            while i + 16 <= n {
                acc += w.loadUnaligned(fromByteOffset: i * 4, as: V.self) * xr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                i += 16
            }
        }
        var sum = acc.sum()
        while i < n {
            let wv: Float
            switch dtype {
            case .bf16: wv = Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16)
            case .f16: wv = Float(bitPattern: FloatConversion.f16ToF32Bits(w.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            default: wv = w.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            }
            sum += wv * x[i]
            i += 1
        }
        return sum
    }

    /// General `c[m x n] = alpha · op(a) · op(b) + beta · c` for the attention products.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Time and FLOPs spent in the weight products (`Matmul.linear`), for benchmarks.
///
/// Off by default; only the thread driving a forward pass records, so plain counters suffice.
public enum MatmulProfile {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public private(set) static var flops: Double = 0
    nonisolated(unsafe) public private(set) static var seconds: Double = 0

    public static func reset() {
        flops = 0
        seconds = 0
        phases = [:]
    }

    /// GFLOP/s achieved inside the weight products since the last reset.
    public static var gflops: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }

    static func record(flops f: Double, nanoseconds: UInt64) {
        flops += f
        seconds += Double(nanoseconds) / 1e9
    }

    /// Seconds per named phase (attention, weights, norms...), when enabled.
    nonisolated(unsafe) public private(set) static var phases: [String: Double] = [:]

    @inline(__always)
    static func phase<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { phases[name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }
}
