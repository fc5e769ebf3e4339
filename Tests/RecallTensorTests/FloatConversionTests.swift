import XCTest
@testable import RecallTensor
import RecallTestSupport

final class FloatConversionTests: XCTestCase {
    /// Every BF16 bit pattern survives BF16 -> F32 -> BF16; NaNs stay NaNs of the same sign.
    func testBF16RoundTripIsExactForAllPatterns() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var wide = [Float](repeating: 0, count: all.count)
        var back = [UInt16](repeating: 0, count: all.count)
        all.withUnsafeBytes { src in wide.withUnsafeMutableBufferPointer { FloatConversion.toFloat32(src.baseAddress!, dtype: .bf16, into: $0.baseAddress!, count: all.count) } }
        wide.withUnsafeBufferPointer { src in back.withUnsafeMutableBytes { FloatConversion.fromFloat32(src.baseAddress!, to: .bf16, into: $0.baseAddress!, count: all.count) } }
        for (i, h) in all.enumerated() {
            XCTAssertEqual(wide[i].bitPattern, UInt32(h) << 16)
            if wide[i].isNaN {
                XCTAssertTrue(Float(bitPattern: UInt32(back[i]) << 16).isNaN)
                XCTAssertEqual(back[i] & 0x8000, h & 0x8000, "NaN sign kept")
            } else {
                XCTAssertEqual(back[i], h, "pattern \(String(h, radix: 16))")
            }
        }
    }

    /// F16 -> F32 agrees with Swift's own Float16 for every pattern, and F16 -> F32 -> F16 is exact.
    func testF16WideningMatchesFloat16AndRoundTrips() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var wide = [Float](repeating: 0, count: all.count)
        var back = [UInt16](repeating: 0, count: all.count)
        all.withUnsafeBytes { src in wide.withUnsafeMutableBufferPointer { FloatConversion.toFloat32(src.baseAddress!, dtype: .f16, into: $0.baseAddress!, count: all.count) } }
        wide.withUnsafeBufferPointer { src in back.withUnsafeMutableBytes { FloatConversion.fromFloat32(src.baseAddress!, to: .f16, into: $0.baseAddress!, count: all.count) } }
        for (i, h) in all.enumerated() {
            let reference = Float(Float16(bitPattern: h))
            if reference.isNaN {
                XCTAssertTrue(wide[i].isNaN)
                XCTAssertTrue(Float16(bitPattern: back[i]).isNaN)
            } else {
                XCTAssertEqual(wide[i].bitPattern, reference.bitPattern, "pattern \(String(h, radix: 16))")
                XCTAssertEqual(back[i], h, "pattern \(String(h, radix: 16))")
            }
        }
    }

    /// F32 -> F16 rounds exactly like the compiler runtime's Float16 conversion (round to
    /// nearest even, subnormals, overflow to infinity) on many seeded values across the range.
    func testF16NarrowingMatchesFloat16() {
        var rng = SeededGenerator(seed: 7)
        var values: [Float] = (0..<200_003).map { _ in
            // Exponents from deep subnormal to beyond F16's range, random mantissas.
            let e = Int.random(in: -30...20, using: &rng)
            let m = Float(UInt32.random(in: 0...0x7F_FFFF, using: &rng)) / Float(1 << 23) + 1
            return (Bool.random(using: &rng) ? -1 : 1) * m * Float(sign: .plus, exponent: e, significand: 1)
        }
        // Exact ties: halfway between two F16 values must go to the even one.
        for k in 0..<2048 { values.append(1 + (Float(k) + 0.5) / 1024) }
        values += [0, -0, .infinity, -.infinity, 65504, 65520, 65519.99, 6.0e-8, 2.98e-8, 2.99e-8, .leastNonzeroMagnitude]
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { FloatConversion.fromFloat32(src.baseAddress!, to: .f16, into: $0.baseAddress!, count: values.count) } }
        for (i, v) in values.enumerated() {
            XCTAssertEqual(out[i], Float16(v).bitPattern, "value \(v)")
        }
    }

    /// F32 -> BF16 rounds to nearest even; checked against an independent computation in Double.
    func testBF16NarrowingRoundsToNearestEven() {
        var rng = SeededGenerator(seed: 11)
        var bits: [UInt32] = (0..<100_001).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        bits += [0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001, 0x7F7F_FFFF, 0xFF7F_FFFF, 0x0000_8000, 0x0001_8000]
        let values = bits.map { Float(bitPattern: $0) }
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { FloatConversion.fromFloat32(src.baseAddress!, to: .bf16, into: $0.baseAddress!, count: values.count) } }
        for (i, v) in values.enumerated() {
            if v.isNaN {
                XCTAssertTrue(Float(bitPattern: UInt32(out[i]) << 16).isNaN)
                continue
            }
            // The two BF16 neighbours of v and the exact distance to each, in Double.
            let down = Float(bitPattern: bits[i] & 0xFFFF_0000)
            // The next BF16 away from zero, computed in Double so that it exists (as 2^128)
            // even past the largest finite value, where rounding up means infinity.
            let bf16Ulp = Double(down.ulp) * 65536
            let upValue = Double(down) + (v.sign == .minus ? -bf16Ulp : bf16Ulp)
            let dDown = abs(Double(v) - Double(down)), dUp = abs(Double(v) - upValue)
            let expected: UInt16
            if bits[i] & 0xFFFF == 0 { expected = UInt16(bits[i] >> 16) }
            else if dDown < dUp { expected = UInt16(bits[i] >> 16) }
            else if dUp < dDown { expected = UInt16(truncatingIfNeeded: ((bits[i] & 0xFFFF_0000) &+ 0x1_0000) >> 16) }
            else { expected = (bits[i] >> 16) & 1 == 0 ? UInt16(bits[i] >> 16) : UInt16(truncatingIfNeeded: (bits[i] >> 16) + 1) }
            XCTAssertEqual(out[i], expected, "bits \(String(bits[i], radix: 16))")
        }
    }

    /// Unaligned sources and odd lengths take the scalar tail; results equal the aligned run.
    func testUnalignedAndTailsAgree() {
        var rng = SeededGenerator(seed: 3)
        let n = 1037
        let values = (0..<n).map { _ in Float.random(in: -1000...1000, using: &rng) }
        for dtype in [DType.bf16, .f16] {
            var aligned = [UInt8](repeating: 0, count: n * 2)
            var shifted = [UInt8](repeating: 0, count: n * 2 + 1)
            values.withUnsafeBufferPointer { src in
                aligned.withUnsafeMutableBytes { FloatConversion.narrow16(src.baseAddress!, to: dtype, into: $0.baseAddress!, count: n) }
                shifted.withUnsafeMutableBytes { FloatConversion.narrow16(src.baseAddress!, to: dtype, into: $0.baseAddress! + 1, count: n) }
            }
            XCTAssertEqual(aligned, Array(shifted[1...]))
            var a = [Float](repeating: 0, count: n), b = [Float](repeating: 0, count: n)
            aligned.withUnsafeBytes { src in a.withUnsafeMutableBufferPointer { FloatConversion.widen16(src.baseAddress!, dtype: dtype, into: $0.baseAddress!, count: n) } }
            shifted.withUnsafeBytes { src in b.withUnsafeMutableBufferPointer { FloatConversion.widen16(src.baseAddress! + 1, dtype: dtype, into: $0.baseAddress!, count: n) } }
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        }
    }

    /// A multi-megabyte conversion is split across threads; the result must not depend on it.
    func testParallelConversionEqualsSerial() {
        let n = 600_001  // 3.6 MB of traffic: above the 1 MB split threshold
        var rng = SeededGenerator(seed: 5)
        let values = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
        var parallel = [UInt16](repeating: 0, count: n), serial = [UInt16](repeating: 0, count: n)
        values.withUnsafeBufferPointer { src in
            parallel.withUnsafeMutableBytes { FloatConversion.fromFloat32(src.baseAddress!, to: .bf16, into: $0.baseAddress!, count: n) }
            serial.withUnsafeMutableBytes { FloatConversion.narrow16(src.baseAddress!, to: .bf16, into: $0.baseAddress!, count: n) }
        }
        XCTAssertEqual(parallel, serial)
    }

    func testSixteenBitToSixteenBitGoesThroughF32() {
        let v = TensorView(name: "x", shape: [4], float32: [1.5, -2.25, 65504, 1e-3], as: .f16)
        let b = v.converted(to: .bf16)
        XCTAssertEqual(b.dtype, .bf16)
        let expected = TensorView(name: "x", shape: [4], float32: try! v.toFloat32(), as: .bf16)
        XCTAssertEqual(b.copyBytes(), expected.copyBytes())
    }
}
