import Foundation
import RecallTensor

/// Rotary position embedding with transformers' conventions (`rotate_half`, cos/sin of
/// `emb = cat(freqs, freqs)`), in F32 as transformers computes it.
///
/// Inverse frequencies follow `modeling_rope_utils`:
/// - default: `inv_freq[i] = 1 / theta^(2i / d)` (`_compute_default_rope_parameters`)
/// - linear:  the default divided by `factor` (`_compute_linear_scaling_rope_parameters`)
/// - llama3:  `_compute_llama3_parameters`: wavelengths above `orig / low_freq_factor` are
///   divided by `factor`, those below `orig / high_freq_factor` kept, the band between
///   interpolated with `smooth = (orig / wavelen - low) / (high - low)`.
/// The attention scaling factor of these three types is 1.
struct RotaryEmbedding {
    let headDim: Int
    let invFreq: [Float]

    init(headDim: Int, theta: Double, scaling: RopeScaling) {
        self.headDim = headDim
        let half = headDim / 2
        let base = Float(theta)
        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)) in F32.
        var inv = (0..<half).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(headDim)) }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            let f = Float(factor)
            inv = inv.map { $0 / f }
        case .llama3(let factor, let lowFreqFactor, let highFreqFactor, let orig):
            let f = Float(factor), lo = Float(lowFreqFactor), hi = Float(highFreqFactor), old = Float(orig)
            let lowFreqWavelen = Float(Double(orig) / lowFreqFactor)
            let highFreqWavelen = Float(Double(orig) / highFreqFactor)
            inv = inv.map { freq in
                let wavelen = Float(2 * Double.pi) / freq
                let scaled = wavelen > lowFreqWavelen ? freq / f : freq
                if !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen) {
                    let smooth = (old / wavelen - lo) / (hi - lo)
                    return (1 - smooth) * scaled / f + smooth * scaled
                }
                return scaled
            }
        }
        invFreq = inv
    }

    init(config: ModelConfig) {
        self.init(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling)
    }

    /// cos and sin for positions `0..<count`, each `[count x headDim/2]`.
    func table(positions count: Int) -> (cos: [Float], sin: [Float]) {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: count * half)
        var s = [Float](repeating: 0, count: count * half)
        for p in 0..<count {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                c[p * half + i] = cosf(angle)
                s[p * half + i] = sinf(angle)
            }
        }
        return (c, s)
    }

    /// Rotates `heads` consecutive heads of `headDim` values, starting at column `column`, in
    /// each of `rows` rows of `x` (row stride `ld`); row `r` has position `positions[r]`.
    /// `cos`/`sin` come from `table(positions:)` covering every position used.
    static func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, column: Int, heads: Int, headDim: Int,
                      positions: UnsafePointer<Int32>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headDim / 2
        Parallel.forChunks(count: rows, elementBytes: heads * headDim * 12) { start, n in
            for r in start..<(start + n) {
                let p = Int(positions[r])
                let c = cos + p * half
                let s = sin + p * half
                for h in 0..<heads {
                    let a = x + r * ld + column + h * headDim
                    let b = a + half
                    var i = 0
                    while i + Kernels.w <= half {
                        let x1 = Kernels.load(a + i), x2 = Kernels.load(b + i)
                        let ci = Kernels.load(c + i), si = Kernels.load(s + i)
                        Kernels.store(x1 * ci - x2 * si, a + i)
                        Kernels.store(x2 * ci + x1 * si, b + i)
                        i += Kernels.w
                    }
                    while i < half {
                        let x1 = a[i], x2 = b[i]
                        a[i] = x1 * c[i] - x2 * s[i]
                        b[i] = x2 * c[i] + x1 * s[i]
                        i += 1
                    }
                }
            }
        }
    }
}
