import Foundation

/// Index of the first NaN or infinity among the float values stored as `dtype` (F32, BF16, F16)
/// in `bytes`, by bit pattern (all exponent bits set), so nothing is converted; nil when every
/// value is finite or `dtype` is not a float type. A SIMD pass finds the first block holding
/// one; the common all-finite case never leaves it.
public func firstNonFiniteIndex(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> Int? {
    func scan<V: SIMD>(_: V.Type, mask: V.Scalar) -> Int? where V.Scalar: FixedWidthInteger {
        let width = MemoryLayout<V.Scalar>.stride
        let n = bytes.count / width
        guard n > 0, let base = bytes.baseAddress else { return nil }
        let m = V(repeating: mask)
        var k = 0
        while k + V.scalarCount <= n {
            if any((base.loadUnaligned(fromByteOffset: k * width, as: V.self) & m) .== m) { break }
            k += V.scalarCount
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
