import XCTest
@testable import RecallTensor

/// The bit-pattern NaN/Inf scan used by model intake and the merge engine, for every float
/// dtype, with the bad value inside a SIMD block, in the scalar tail, or absent.
final class NonFiniteTests: XCTestCase {
    func testFindsTheFirstNaNOrInfinityInEveryFloatDType() {
        let n = 5000  // 9 scan blocks of 512 F32 values (4 of 1024 16-bit ones) and a tail
        for dtype in [DType.f32, .bf16, .f16] {
            // Positions in every lane of a 64-bit word (mod 4 for 16-bit values, mod 2 for F32).
            for (position, bad) in [(0, Float.nan), (517, -Float.infinity), (1030, .nan), (2600, .nan), (n - 3, Float.infinity), (n - 1, -Float.nan)] {
                var values = (0..<n).map { Float($0 % 97) - 48.5 }
                values[position] = bad
                if position + 5 < n { values[position + 5] = .nan }  // a later one must not win
                let view = TensorView(name: "w", shape: [n], float32: values, as: dtype)
                XCTAssertEqual(view.firstNonFinite, position, "\(dtype) at \(position)")
            }
            // Finite extremes (largest values, subnormals, zeros) are not flagged.
            let fine = TensorView(name: "w", shape: [n], float32: (0..<n).map { $0 % 3 == 0 ? 65000 : ($0 % 3 == 1 ? 1e-7 : -0.0) }, as: dtype)
            XCTAssertNil(fine.firstNonFinite, "\(dtype)")
        }
        XCTAssertNil(TensorView(name: "i", dtype: .i64, shape: [1], copying: Data(count: 8)).firstNonFinite)
    }

    /// Against a one-value-at-a-time reference on seeded random bit patterns: lengths around the
    /// word and block sizes, every start offset within a word (unaligned), and values drawn near
    /// the edge (exponent all ones but for one bit, sign set) so a false positive or a missed lane shows.
    func testAgreesWithAScalarReferenceOnRandomBitPatterns() {
        var rng = SplitMix(seed: 7)
        for (dtype, width, mask) in [(DType.bf16, 2, UInt32(0x7F80)), (.f16, 2, 0x7C00), (.f32, 4, 0x7F80_0000)] {
            let maskBits = (0..<32).filter { mask >> UInt32($0) & 1 == 1 }
            for trial in 0..<300 {
                let count = [1, 3, 4, 7, 255, 1024, 1025, 2047, 4096, 5003][trial % 10]
                let offset = Int(rng.next() % 8)
                var bytes = [UInt8](repeating: 0, count: offset + count * width)
                let badOdds = [0, 1, 1000, 100_000][trial % 4]   // per million values
                for i in 0..<count {
                    var v = UInt32(truncatingIfNeeded: rng.next()) & (width == 2 ? 0xFFFF : 0xFFFF_FFFF)
                    if Int(rng.next() % 1_000_000) < badOdds { v |= mask }   // NaN or infinity
                    else if rng.next() % 2 == 0 { v = (v | mask) & ~(1 << UInt32(maskBits[Int(rng.next() % UInt64(maskBits.count))])) }
                    for b in 0..<width { bytes[offset + i * width + b] = UInt8(truncatingIfNeeded: v >> UInt32(8 * b)) }
                }
                let expected = (0..<count).first { i in
                    var v: UInt32 = 0
                    for b in 0..<width { v |= UInt32(bytes[offset + i * width + b]) << UInt32(8 * b) }
                    return v & mask == mask
                }
                let found = bytes.withUnsafeBytes { firstNonFiniteIndex(UnsafeRawBufferPointer(rebasing: $0[offset...]), dtype: dtype) }
                XCTAssertEqual(found, expected, "\(dtype) count \(count) offset \(offset) trial \(trial)")
            }
        }
    }
}
