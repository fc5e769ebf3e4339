import Foundation

/// Index of the first NaN or infinity among the float values stored as `dtype` (F32, BF16, F16)
/// in `bytes`, by bit pattern (all exponent bits set), so nothing is converted; nil when every
/// value is finite or `dtype` is not a float type. A SIMD pass finds the first block holding
/// one; the common all-finite case never leaves it.
public func firstNonFiniteIndex(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> Int? {
    func scan<V: SIMD>(_: V.Type, mask: V.Scalar) -> Int? where V.Scalar: FixedWidthInteger & UnsignedInteger {
        let width = MemoryLayout<V.Scalar>.stride
        let n = bytes.count / width
        guard n > 0, let base = bytes.baseAddress else { return nil }
        let m = V(repeating: mask)
        // No lane compares: `any(x .== m)` on unsigned lanes is scalarised on baseline x86-64.
        // y = (x & m) ^ m is zero exactly for a non-finite value, and y is below the top bit
        // (the masks leave the sign out), so y - 1 sets the top bit exactly then. OR-ing a block
        // of vectors and looking at the top bits once per block keeps the loop in registers.
        let block = 32 * V.scalarCount
        let top = V.Scalar(1) << (V.Scalar.bitWidth - 1)
        var k = 0
        scanning: while k + block <= n {
            var flags = V()
            for j in stride(from: k, to: k + block, by: V.scalarCount) {
                flags |= ((base.loadUnaligned(fromByteOffset: j * width, as: V.self) & m) ^ m) &- 1
            }
            for lane in 0..<V.scalarCount where flags[lane] & top != 0 { break scanning }
            k += block
        }
        while k < n {
            if base.loadUnaligned(fromByteOffset: k * width, as: V.Scalar.self) & mask == mask { return k }
            k += 1
        }
        return nil
    }
    switch dtype {
    case .f32: return scan(SIMD16<UInt32>.self, mask: 0x7F80_0000)
    case .bf16: return scan(SIMD32<UInt16>.self, mask: 0x7F80)
    case .f16: return scan(SIMD32<UInt16>.self, mask: 0x7C00)
    default: return nil
    }
}

extension TensorView {
    /// `firstNonFiniteIndex` of this tensor's values.
    public var firstNonFinite: Int? { firstNonFiniteIndex(bytes, dtype: dtype) }
}
