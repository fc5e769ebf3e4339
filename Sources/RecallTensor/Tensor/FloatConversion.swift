import Foundation

/// Vectorised conversions between the 16-bit float formats and F32.
///
/// - BF16 -> F32 is exact (the BF16 bits are the top half of the F32 bits).
/// - F32 -> BF16 rounds to nearest, ties to even. A NaN stays a NaN: we keep its sign and top
///   payload bits and set the quiet bit (torch instead returns the canonical 0x7FC0).
/// - F16 <-> F32 round to nearest, ties to even, with subnormals and overflow to infinity, using
///   the float-unit trick of scaling into and out of the F16 range; a NaN becomes a quiet NaN
///   with its sign (0x7E00 | sign), as torch and numpy do.
///
/// Sources and destinations need no alignment: memory-mapped tensors are only guaranteed to be
/// byte aligned, so every load and store here is unaligned.
public enum FloatConversion {
    package typealias U = SIMD16<UInt32>
    package typealias F = SIMD16<Float>
    static let width = 16

    // Lane selection by arithmetic masks. `replacing(with:where:)` with an unsigned compare is
    // scalarised lane by lane on baseline x86-64 (SSE2 has no unsigned compare), which made
    // narrowing to BF16 the slowest step of a merge; these stay in vector registers.

    /// All ones in the lanes where `x`, read as a signed Int32, is negative; zero elsewhere.
    @inline(__always)
    static func onesWhereNegative(_ x: U) -> U {
        unsafeBitCast(unsafeBitCast(x, to: SIMD16<Int32>.self) &>> 31, to: U.self)
    }

    /// `b` in the lanes where `mask` is all ones, `a` where it is zero.
    @inline(__always)
    static func select(_ a: U, _ b: U, mask: U) -> U { (a & ~mask) | (b & mask) }

    /// All ones in the lanes holding a NaN (magnitude above infinity's bit pattern).
    @inline(__always)
    static func nanMask(_ w: U) -> U { onesWhereNegative(0x7F80_0000 &- (w & 0x7FFF_FFFF)) }

    // MARK: BF16

    @inline(__always)
    package static func bf16ToF32Bits(_ h: U) -> U { h &<< 16 }

    @inline(__always)
    static func f32BitsToBF16(_ w: U) -> U {
        let rounded = (w &+ 0x7FFF &+ ((w &>> 16) & 1)) &>> 16
        let quietNaN = (w &>> 16) | 0x0040
        return select(rounded, quietNaN, mask: nanMask(w))
    }

    @inline(__always)
    static func f32BitsToBF16(_ w: UInt32) -> UInt16 {
        if (w & 0x7FFF_FFFF) > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (w >> 16) | 0x0040) }
        return UInt16(truncatingIfNeeded: (w &+ 0x7FFF &+ ((w >> 16) & 1)) >> 16)
    }

    // MARK: F16

    @inline(__always)
    package static func f16ToF32Bits(_ h: U) -> U {
        let w = h &<< 16
        let sign = w & 0x8000_0000
        let twoW = w &+ w
        let normalized = unsafeBitCast((twoW &>> 4) &+ 0x7000_0000, to: F.self) * 0x1.0p-112
        let denormalized = unsafeBitCast((twoW &>> 17) | 0x3F00_0000, to: F.self) - 0.5
        // twoW < 0x0800_0000 (a subnormal or zero) exactly when its top five bits are zero.
        let isSubnormal = onesWhereNegative((twoW &>> 27) &- 1)
        let magnitude = select(unsafeBitCast(normalized, to: U.self), unsafeBitCast(denormalized, to: U.self), mask: isSubnormal)
        return sign | magnitude
    }

    @inline(__always)
    package static func f16ToF32Bits(_ h: UInt16) -> UInt32 {
        let w = UInt32(h) << 16
        let sign = w & 0x8000_0000
        let twoW = w &+ w
        if twoW < 0x0800_0000 {
            let d = Float(bitPattern: (twoW >> 17) | 0x3F00_0000) - 0.5
            return sign | d.bitPattern
        }
        let n = Float(bitPattern: (twoW >> 4) &+ 0x7000_0000) * 0x1.0p-112
        return sign | n.bitPattern
    }

    @inline(__always)
    static func f32BitsToF16(_ w: U) -> U {
        let f = unsafeBitCast(w & 0x7FFF_FFFF, to: F.self)
        var base = (f * 0x1.0p+112) * 0x1.0p-110
        let shl1 = w &+ w
        let sign = w & 0x8000_0000
        var bias = shl1 & 0xFF00_0000
        bias = select(bias, U(repeating: 0x7100_0000), mask: onesWhereNegative((bias &>> 24) &- 0x71))
        base = unsafeBitCast((bias &>> 1) &+ 0x0780_0000, to: F.self) + base
        let bits = unsafeBitCast(base, to: U.self)
        let nonsign = ((bits &>> 13) & 0x7C00) &+ (bits & 0x0FFF)
        let magnitude = select(nonsign, U(repeating: 0x7E00), mask: nanMask(w))
        return (sign &>> 16) | magnitude
    }

    @inline(__always)
    static func f32BitsToF16(_ w: UInt32) -> UInt16 {
        var base = (Float(bitPattern: w & 0x7FFF_FFFF) * 0x1.0p+112) * 0x1.0p-110
        let shl1 = w &+ w
        let sign = w & 0x8000_0000
        let bias = max(shl1 & 0xFF00_0000, 0x7100_0000)
        base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + base
        let bits = base.bitPattern
        let nonsign = ((bits >> 13) & 0x7C00) &+ (bits & 0x0FFF)
        return UInt16(truncatingIfNeeded: (sign >> 16) | (shl1 > 0xFF00_0000 ? 0x7E00 : nonsign))
    }

    // MARK: Buffers

    /// Widens `count` 16-bit floats (`bf16` or `f16`) at `src` into F32 at `dst`.
    public static func widen16(_ src: UnsafeRawPointer, dtype: DType, into dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(dtype == .bf16 || dtype == .f16)
        let out = UnsafeMutableRawPointer(dst)
        var i = 0
        if dtype == .bf16 {
            while i + width <= count {
                let h = U(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self))
                out.storeBytes(of: bf16ToF32Bits(h), toByteOffset: i * 4, as: U.self)
                i += width
            }
            while i < count {
                let h = UInt32(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                out.storeBytes(of: h << 16, toByteOffset: i * 4, as: UInt32.self)
                i += 1
            }
        } else {
            while i + width <= count {
                let h = U(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self))
                out.storeBytes(of: f16ToF32Bits(h), toByteOffset: i * 4, as: U.self)
                i += width
            }
            while i < count {
                let h = src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                out.storeBytes(of: f16ToF32Bits(h), toByteOffset: i * 4, as: UInt32.self)
                i += 1
            }
        }
    }

    /// Narrows `count` F32 values at `src` into 16-bit floats (`bf16` or `f16`) at `dst`.
    public static func narrow16(_ src: UnsafePointer<Float>, to dtype: DType, into dst: UnsafeMutableRawPointer, count: Int) {
        precondition(dtype == .bf16 || dtype == .f16)
        let input = UnsafeRawPointer(src)
        var i = 0
        if dtype == .bf16 {
            while i + width <= count {
                let w = input.loadUnaligned(fromByteOffset: i * 4, as: U.self)
                dst.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: f32BitsToBF16(w)), toByteOffset: i * 2, as: SIMD16<UInt16>.self)
                i += width
            }
            while i < count {
                let w = input.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                dst.storeBytes(of: f32BitsToBF16(w), toByteOffset: i * 2, as: UInt16.self)
                i += 1
            }
        } else {
            while i + width <= count {
                let w = input.loadUnaligned(fromByteOffset: i * 4, as: U.self)
                dst.storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: f32BitsToF16(w)), toByteOffset: i * 2, as: SIMD16<UInt16>.self)
                i += width
            }
            while i < count {
                let w = input.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                dst.storeBytes(of: f32BitsToF16(w), toByteOffset: i * 2, as: UInt16.self)
                i += 1
            }
        }
    }

    /// Converts `count` elements of a compute float type (F32, F16, BF16) at `src` into F32.
    /// Large buffers are split across the machine's cores.
    public static func toFloat32(_ src: UnsafeRawPointer, dtype: DType, into dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(dtype.isComputeFloat, "toFloat32 needs F32, F16 or BF16, got \(dtype)")
        Parallel.forChunks(count: count, elementBytes: dtype.byteSize + 4) { start, n in
            let s = src + start * dtype.byteSize
            if dtype == .f32 {
                UnsafeMutableRawPointer(dst + start).copyMemory(from: s, byteCount: n * 4)
            } else {
                widen16(s, dtype: dtype, into: dst + start, count: n)
            }
        }
    }

    /// Converts `count` F32 values at `src` into `dtype` (F32, F16, BF16) at `dst`.
    public static func fromFloat32(_ src: UnsafePointer<Float>, to dtype: DType, into dst: UnsafeMutableRawPointer, count: Int) {
        precondition(dtype.isComputeFloat, "fromFloat32 needs F32, F16 or BF16, got \(dtype)")
        Parallel.forChunks(count: count, elementBytes: dtype.byteSize + 4) { start, n in
            let d = dst + start * dtype.byteSize
            if dtype == .f32 {
                d.copyMemory(from: src + start, byteCount: n * 4)
            } else {
                narrow16(src + start, to: dtype, into: d, count: n)
            }
        }
    }

    /// Converts between any two compute float types without an intermediate buffer for the
    /// whole tensor (F32 is staged in small blocks).
    public static func convert(_ src: UnsafeRawPointer, from: DType, into dst: UnsafeMutableRawPointer, to: DType, count: Int) {
        precondition(from.isComputeFloat && to.isComputeFloat)
        if from == to {
            dst.copyMemory(from: src, byteCount: count * from.byteSize)
            return
        }
        if to == .f32 {
            toFloat32(src, dtype: from, into: dst.assumingMemoryBound(to: Float.self), count: count)
            return
        }
        if from == .f32 {
            fromFloat32(src.assumingMemoryBound(to: Float.self), to: to, into: dst, count: count)
            return
        }
        // 16-bit to 16-bit: stage through a small F32 block per chunk.
        Parallel.forChunks(count: count, elementBytes: 4) { start, n in
            let block = 4096
            withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { tmp in
                var i = 0
                while i < n {
                    let m = min(block, n - i)
                    widen16(src + (start + i) * 2, dtype: from, into: tmp.baseAddress!, count: m)
                    narrow16(tmp.baseAddress!, to: to, into: dst + (start + i) * 2, count: m)
                    i += m
                }
            }
        }
    }
}
