import Foundation
import RecallTensor

/// Element-wise kernels of the forward pass: F32, SIMD16, split over the cores with
/// `Parallel.forChunks`, no allocation inside the loops.
enum Kernels {
    typealias V = SIMD16<Float>
    static let w = 16

    // MARK: exp

    /// e^x for 16 lanes (Cephes `expf` polynomial, ~1 ulp on [-87, 88]; inputs are clamped there,
    /// so very negative inputs give ~1e-38 instead of 0 and large ones ~1.6e38 instead of inf).
    @inline(__always)
    static func exp(_ x0: V) -> V {
        // (`replacing(with:where:)` compiles to vector selects; `clamped`/`pointwiseMax` do not.)
        let lo = V(repeating: -87.3), hi = V(repeating: 88.3)
        var x = x0.replacing(with: lo, where: x0 .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        // n = round(x / ln 2) with the 1.5·2^23 trick: the low mantissa bits hold n.
        let magic = V(repeating: 12_582_912)
        let t = x * V(repeating: 1.442_695_04) + magic
        let n = t - magic
        var r = x - n * V(repeating: 0.693_359_375)
        r = r - n * V(repeating: -2.121_944_4e-4)
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + V(repeating: 1.398_199_950_7e-3)
        p = p * r + V(repeating: 8.333_451_907_3e-3)
        p = p * r + V(repeating: 4.166_579_589_4e-2)
        p = p * r + V(repeating: 1.666_666_545_9e-1)
        p = p * r + V(repeating: 5.000_000_120_1e-1)
        p = p * (r * r) + r + V(repeating: 1)
        // 2^n: n sits in the low bits of t's pattern (as n + 0x400000 + the magic's mantissa).
        let nBits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: V.self)
        return p * scale
    }

    @inline(__always)
    static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    // MARK: Loads

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    // MARK: RMSNorm

    /// `out[r] = weight ⊙ (x[r] / sqrt(mean(x[r]²) + eps))`, as transformers' `LlamaRMSNorm` in F32.
    /// `out` may equal `x` (in place).
    static func rmsNorm(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, dim: Int,
                        weight: UnsafePointer<Float>, eps: Float,
                        into out: UnsafeMutablePointer<Float>, ldo: Int) {
        Parallel.forChunks(count: rows, elementBytes: dim * 8) { start, n in
            for r in start..<(start + n) {
                let row = x + r * ldx
                let o = out + r * ldo
                var acc = V()
                var i = 0
                while i + w <= dim {
                    let v = load(row + i)
                    acc += v * v
                    i += w
                }
                var sum = acc.sum()
                while i < dim { sum += row[i] * row[i]; i += 1 }
                let inv = 1 / (sum / Float(dim) + eps).squareRoot()
                let vi = V(repeating: inv)
                i = 0
                while i + w <= dim {
                    store(load(weight + i) * (load(row + i) * vi), o + i)
                    i += w
                }
                while i < dim { o[i] = weight[i] * (row[i] * inv); i += 1 }
            }
        }
    }

    // MARK: SwiGLU

    /// `out[r, i] = silu(gu[r, i]) · gu[r, f + i]` for a fused `[rows x 2f]` gate|up product.
    static func swiglu(_ gu: UnsafePointer<Float>, rows: Int, f: Int, into out: UnsafeMutablePointer<Float>) {
        Parallel.forChunks(count: rows, elementBytes: f * 12) { start, n in
            for r in start..<(start + n) {
                let g = gu + r * 2 * f
                let u = g + f
                let o = out + r * f
                var i = 0
                while i + w <= f {
                    let gv = load(g + i)
                    store(gv / (V(repeating: 1) + exp(-gv)) * load(u + i), o + i)
                    i += w
                }
                while i < f {
                    o[i] = g[i] / (1 + exp(-g[i])) * u[i]
                    i += 1
                }
            }
        }
    }

    // MARK: Bias

    /// `y[r, 0..<n] += bias` for every row.
    static func addBias(_ y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, bias: UnsafePointer<Float>, n: Int) {
        Parallel.forChunks(count: rows, elementBytes: n * 8) { start, cnt in
            for r in start..<(start + cnt) {
                let row = y + r * ldy
                var i = 0
                while i + w <= n {
                    store(load(row + i) + load(bias + i), row + i)
                    i += w
                }
                while i < n { row[i] += bias[i]; i += 1 }
            }
        }
    }

    // MARK: Softmax

    /// Softmax over `row[lo...hi]` in place; entries outside are set to 0 (masked).
    @inline(__always)
    static func maskedSoftmax(_ row: UnsafeMutablePointer<Float>, count: Int, lo: Int, hi: Int) {
        var m = -Float.infinity
        for j in lo...hi where row[j] > m { m = row[j] }
        var i = lo
        var acc = V()
        let mv = V(repeating: m)
        while i + w <= hi + 1 {
            let e = exp(load(row + i) - mv)
            store(e, row + i)
            acc += e
            i += w
        }
        var sum = acc.sum()
        while i <= hi {
            let e = exp(row[i] - m)
            row[i] = e
            sum += e
            i += 1
        }
        let inv = 1 / sum
        i = lo
        let iv = V(repeating: inv)
        while i + w <= hi + 1 {
            store(load(row + i) * iv, row + i)
            i += w
        }
        while i <= hi { row[i] *= inv; i += 1 }
        if lo > 0 { (row).update(repeating: 0, count: lo) }
        if hi + 1 < count { (row + hi + 1).update(repeating: 0, count: count - hi - 1) }
    }

    /// log-sum-exp of `count` values (max-shifted, summed in Double).
    static func logSumExp(_ row: UnsafePointer<Float>, count: Int) -> Double {
        var mv = V(repeating: -.infinity)
        var i = 0
        while i + w <= count {
            let v = load(row + i)
            mv = mv.replacing(with: v, where: v .> mv)
            i += w
        }
        var m = mv.max()
        while i < count { m = max(m, row[i]); i += 1 }
        let mvv = V(repeating: m)
        var total = 0.0
        i = 0
        while i + w <= count {
            total += Double(exp(load(row + i) - mvv).sum())
            i += w
        }
        while i < count { total += Double(exp(row[i] - m)); i += 1 }
        return Double(m) + Foundation.log(total)
    }

    /// Index of the largest value (first one on ties, like torch.argmax).
    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        var bv = row[0]
        for j in 1..<max(count, 1) where row[j] > bv {
            bv = row[j]
            best = j
        }
        return best
    }

    // MARK: Pooling helpers

    /// `out = mean of rows[r] for r in selected` (accumulated in F32 lanes, divided once).
    static func meanRows(_ x: UnsafePointer<Float>, ld: Int, rows: some Sequence<Int>, dim: Int,
                         into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: dim)
        var n = 0
        for r in rows {
            let row = x + r * ld
            var i = 0
            while i + w <= dim {
                store(load(out + i) + load(row + i), out + i)
                i += w
            }
            while i < dim { out[i] += row[i]; i += 1 }
            n += 1
        }
        guard n > 0 else { return }
        let inv = 1 / Float(n)
        for i in 0..<dim { out[i] *= inv }
    }

    /// Median (mean of the two middle values for an even count, as numpy).
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        let n = s.count
        if n == 0 { return 0 }
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// Euclidean norm of one row, in Double.
    static func norm(_ row: UnsafePointer<Float>, dim: Int) -> Double {
        var s = 0.0
        for i in 0..<dim { s += Double(row[i]) * Double(row[i]) }
        return s.squareRoot()
    }
}
