import XCTest
@testable import RecallTensor

/// The bit-pattern NaN/Inf scan used by model intake and the merge engine, for every float
/// dtype, with the bad value inside a SIMD block, in the scalar tail, or absent.
final class NonFiniteTests: XCTestCase {
    func testFindsTheFirstNaNOrInfinityInEveryFloatDType() {
        let n = 5000  // 9 scan blocks of 512 F32 values (4 of 1024 16-bit ones) and a tail
        for dtype in [DType.f32, .bf16, .f16] {
            for (position, bad) in [(0, Float.nan), (517, -Float.infinity), (2600, .nan), (n - 3, Float.infinity), (n - 1, -Float.nan)] {
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
}
