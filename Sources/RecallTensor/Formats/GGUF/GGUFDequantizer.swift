import Foundation

/// Turns ggml blocks into F32, bit for bit as the `gguf` Python package's
/// `gguf.quants.dequantize` does (same operations in the same order: `d * q`, `d * q + m`,
/// `(d * scale) * q - dmin * min`), 16 lanes at a time, split over the cores for large tensors.
///
/// Block layouts (ggml-common.h), all little-endian, `d`/`m`/`dmin` float16:
/// - Q8_0 (32 values, 34 bytes): d, 32 x int8.                      x = d * q
/// - Q4_0 (32, 18): d, 16 bytes of nibbles (low nibbles are values 0-15, high nibbles 16-31).
///                                                                  x = d * (q - 8)
/// - Q4_1 (32, 20): d, m, 16 bytes of nibbles.                       x = d * q + m
/// - Q5_0 (32, 22): d, u32 of 5th bits (bit i for value i), 16 bytes of nibbles.
///                                                                  x = d * (q - 16)
/// - Q5_1 (32, 24): d, m, u32 of 5th bits, nibbles.                  x = d * q + m
/// - Q4_K (256, 144): d, dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks of 32, 128 bytes
///   of nibbles (each 32-byte chunk: low nibbles, then high nibbles).  x = (d*sc) * q - dmin*mn
/// - Q5_K (256, 176): as Q4_K plus 32 bytes of 5th bits (bit s of byte l for sub-block s).
/// - Q6_K (256, 210): 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 int8 scales (one per
///   16 values), d.                                                 x = (d*sc) * (q - 32)
public enum GGUFDequantizer {
    typealias F = SIMD16<Float>
    typealias B = SIMD16<UInt8>

    /// Dequantises `count` values of `type` at `src` into `dst`. `type` must be dequantisable and
    /// `count` a multiple of its block size (GGUFFile guarantees both).
    public static func dequantize(_ src: UnsafeRawPointer, type: GGMLType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(type.isDequantizable, "\(type.name) cannot be dequantised")
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
            return
        case .f16:
            FloatConversion.toFloat32(src, dtype: .f16, into: dst, count: count)
            return
        case .bf16:
            FloatConversion.toFloat32(src, dtype: .bf16, into: dst, count: count)
            return
        case .f64:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            return
        default:
            break
        }
        let bs = type.blockSize!, ts = type.typeSize!
        precondition(count % bs == 0)
        let blocks = count / bs
        Parallel.forChunks(count: blocks, elementBytes: ts + bs * 4) { start, n in
            let s = src + start * ts
            let d = dst + start * bs
            switch type {
            case .q8_0: q8_0(s, d, blocks: n)
            case .q4_0: q4_0(s, d, blocks: n)
            case .q4_1: q4_1(s, d, blocks: n)
            case .q5_0: q5_0(s, d, blocks: n)
            case .q5_1: q5_1(s, d, blocks: n)
            case .q4_K: q4_K(s, d, blocks: n)
            case .q5_K: q5_K(s, d, blocks: n)
            case .q6_K: q6_K(s, d, blocks: n)
            default: preconditionFailure("unreachable")
            }
        }
    }

    // MARK: Helpers

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(bitPattern: FloatConversion.f16ToF32Bits(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func bytes(_ p: UnsafeRawPointer, _ offset: Int) -> B { p.loadUnaligned(fromByteOffset: offset, as: B.self) }

    @inline(__always)
    static func store(_ v: F, _ dst: UnsafeMutablePointer<Float>, _ index: Int) {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, toByteOffset: index * 4, as: F.self)
    }

    /// Unsigned bytes as floats.
    @inline(__always)
    static func floats(_ v: B) -> F { F(SIMD16<Int32>(truncatingIfNeeded: v)) }

    /// Bytes minus `offset`, as floats (the signed codes of Q4_0 / Q5_0 / Q6_K).
    @inline(__always)
    static func floats(_ v: B, minus offset: Int32) -> F { F(SIMD16<Int32>(truncatingIfNeeded: v) &- offset) }

    static let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// Bit `first + i` of `bits` in lane i, moved to bit 4 (the 5th bit of a Q5 code).
    @inline(__always)
    static func fifthBits(_ bits: UInt32, first: UInt32) -> B {
        B(truncatingIfNeeded: ((SIMD16<UInt32>(repeating: bits) &>> (lanes &+ first)) & 1) &<< 4)
    }

    // MARK: 32-value blocks

    static func q8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 34, o = dst + b * 32
            let d = F(repeating: half(p, 0))
            let lo = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
            let hi = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
            store(F(SIMD16<Int32>(truncatingIfNeeded: lo)) * d, o, 0)
            store(F(SIMD16<Int32>(truncatingIfNeeded: hi)) * d, o, 16)
        }
    }

    static func q4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 18, o = dst + b * 32
            let d = F(repeating: half(p, 0))
            let q = bytes(p, 2)
            store(d * floats(q & 0x0F, minus: 8), o, 0)
            store(d * floats(q &>> 4, minus: 8), o, 16)
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 20, o = dst + b * 32
            let d = F(repeating: half(p, 0)), m = F(repeating: half(p, 2))
            let q = bytes(p, 4)
            store(d * floats(q & 0x0F) + m, o, 0)
            store(d * floats(q &>> 4) + m, o, 16)
        }
    }

    static func q5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 22, o = dst + b * 32
            let d = F(repeating: half(p, 0))
            let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
            let q = bytes(p, 6)
            store(d * floats((q & 0x0F) | fifthBits(qh, first: 0), minus: 16), o, 0)
            store(d * floats((q &>> 4) | fifthBits(qh, first: 16), minus: 16), o, 16)
        }
    }

    static func q5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 24, o = dst + b * 32
            let d = F(repeating: half(p, 0)), m = F(repeating: half(p, 2))
            let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            let q = bytes(p, 8)
            store(d * floats((q & 0x0F) | fifthBits(qh, first: 0)) + m, o, 0)
            store(d * floats((q &>> 4) | fifthBits(qh, first: 16)) + m, o, 16)
        }
    }

    // MARK: K-quants (256-value super-blocks)

    /// The 8 six-bit (scale, min) pairs packed in 12 bytes (ggml's `get_scale_min_k4`).
    @inline(__always)
    static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
        let b = s.assumingMemoryBound(to: UInt8.self)
        if j < 4 { return (b[j] & 63, b[j + 4] & 63) }
        return ((b[j + 4] & 0x0F) | ((b[j - 4] >> 6) << 4), (b[j + 4] >> 4) | ((b[j] >> 6) << 4))
    }

    static func q4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 144, o = dst + b * 256
            let d = half(p, 0), dmin = half(p, 2)
            for c in 0..<4 {
                let (sc0, m0) = scaleMin(p + 4, 2 * c)
                let (sc1, m1) = scaleMin(p + 4, 2 * c + 1)
                let d0 = F(repeating: d * Float(sc0)), dm0 = F(repeating: dmin * Float(m0))
                let d1 = F(repeating: d * Float(sc1)), dm1 = F(repeating: dmin * Float(m1))
                for h in 0..<2 {
                    let q = bytes(p, 16 + 32 * c + 16 * h)
                    store(d0 * floats(q & 0x0F) - dm0, o, 64 * c + 16 * h)
                    store(d1 * floats(q &>> 4) - dm1, o, 64 * c + 32 + 16 * h)
                }
            }
        }
    }

    static func q5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 176, o = dst + b * 256
            let d = half(p, 0), dmin = half(p, 2)
            for c in 0..<4 {
                let (sc0, m0) = scaleMin(p + 4, 2 * c)
                let (sc1, m1) = scaleMin(p + 4, 2 * c + 1)
                let d0 = F(repeating: d * Float(sc0)), dm0 = F(repeating: dmin * Float(m0))
                let d1 = F(repeating: d * Float(sc1)), dm1 = F(repeating: dmin * Float(m1))
                let s0 = UInt8(2 * c), s1 = UInt8(2 * c + 1)
                for h in 0..<2 {
                    let q = bytes(p, 48 + 32 * c + 16 * h)
                    let qh = bytes(p, 16 + 16 * h)
                    let v0 = (q & 0x0F) | (((qh &>> s0) & 1) &<< 4)
                    let v1 = (q &>> 4) | (((qh &>> s1) & 1) &<< 4)
                    store(d0 * floats(v0) - dm0, o, 64 * c + 16 * h)
                    store(d1 * floats(v1) - dm1, o, 64 * c + 32 + 16 * h)
                }
            }
        }
    }

    static func q6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 210, o = dst + b * 256
            let d = half(p, 208)
            let scales = (p + 192).assumingMemoryBound(to: Int8.self)
            for c in 0..<2 {
                for h in 0..<2 {
                    // values 128c + 16h + {0, 32, 64, 96} + lane
                    let qa = bytes(p, 64 * c + 16 * h)          // ql[64c + l]
                    let qb = bytes(p, 64 * c + 32 + 16 * h)     // ql[64c + 32 + l]
                    let qh = bytes(p, 128 + 32 * c + 16 * h)    // qh[32c + l]
                    let v0 = (qa & 0x0F) | ((qh & 3) &<< 4)
                    let v1 = (qb & 0x0F) | (((qh &>> 2) & 3) &<< 4)
                    let v2 = (qa &>> 4) | (((qh &>> 4) & 3) &<< 4)
                    let v3 = (qb &>> 4) | (((qh &>> 6) & 3) &<< 4)
                    let e = 128 * c + 16 * h
                    store(F(repeating: d * Float(scales[e / 16])) * floats(v0, minus: 32), o, e)
                    store(F(repeating: d * Float(scales[(e + 32) / 16])) * floats(v1, minus: 32), o, e + 32)
                    store(F(repeating: d * Float(scales[(e + 64) / 16])) * floats(v2, minus: 32), o, e + 64)
                    store(F(repeating: d * Float(scales[(e + 96) / 16])) * floats(v3, minus: 32), o, e + 96)
                }
            }
        }
    }
}
