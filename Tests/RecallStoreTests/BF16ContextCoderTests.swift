import XCTest
@testable import RecallTensor
@testable import RecallStore
import RecallTestSupport

/// The BF16 chunk coder (format 3): exact round trips at every size and value, beating the
/// order-0 bound of the byte planes on weights with per-row scales, falling back to zstd planes
/// where those win, and rejecting corruption without crashing.
final class BF16ContextCoderTests: XCTestCase {
    /// Normal weights whose scale changes every `row` elements (as rows of a trained matrix do), as BF16 bytes.
    func weights(_ n: Int, row: Int = 1000, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        var scale: Float = 0.02
        let values = (0..<n).map { i -> Float in
            if i % row == 0 { scale = 0.02 * exp(Float.random(in: -1.5...1.5, using: &rng)) }
            let u = Float.random(in: Float.leastNormalMagnitude...1, using: &rng), v = Float.random(in: 0...1, using: &rng)
            return scale * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        return TensorView(name: "w", shape: [n], float32: values, as: .bf16).copyBytes()
    }

    func encode(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { ChunkCodec().encode($0, dtype: .bf16) } }

    func decode(_ encoded: [UInt8], count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try encoded.withUnsafeBytes { e in try out.withUnsafeMutableBytes { try ChunkCodec.decode(e, into: $0) } }
        XCTAssertEqual(n, count)
        return out
    }

    /// Bits of the two byte planes after the sign rotation, each at its order-0 entropy, in bytes:
    /// the best any per-plane Huffman or FSE coder of the chunk could do.
    func orderZeroBound(_ bytes: [UInt8]) -> Double {
        let n = bytes.count / 2
        var high = [Int](repeating: 0, count: 256), low = [Int](repeating: 0, count: 256)
        for i in 0..<n {
            let v = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
            let r = v << 1 | v >> 15
            high[Int(r >> 8)] += 1
            low[Int(r & 0xFF)] += 1
        }
        func bits(_ c: [Int]) -> Double { c.reduce(0.0) { $0 + ($1 == 0 ? 0 : -Double($1) * log2(Double($1) / Double(n))) } }
        return (bits(high) + bits(low)) / 8
    }

    func testWeightsRoundTripAndBeatTheOrderZeroBoundOfTheirPlanes() throws {
        let bytes = weights(262_147, seed: 31)
        let encoded = encode(bytes)
        XCTAssertEqual(encoded[0], 3, "trained-like weights use the context coder")
        XCTAssertEqual(try decode(encoded, count: bytes.count), bytes)
        let bound = orderZeroBound(bytes)
        XCTAssertLessThan(Double(encoded.count), 0.995 * bound, "\(encoded.count) bytes vs order-0 bound \(Int(bound))")
        // The same elements in a random order lose the row scales the exponent context exploits.
        var rng = SeededGenerator(seed: 32)
        var order = Array(0..<(bytes.count / 2))
        order.shuffle(using: &rng)
        let shuffled = order.flatMap { [bytes[2 * $0], bytes[2 * $0 + 1]] }
        XCTAssertLessThan(encoded.count, encode(shuffled).count)
    }

    func testEveryValueAndSizeRoundTrips() throws {
        var rng = SeededGenerator(seed: 33)
        // Sizes around the minimum, the 256-element blocks and the four interleaved states.
        for n in [4096, 4097, 4098, 4099, 4351, 4355, 65_536 + 255, 100_003] {
            var bytes = weights(n, seed: UInt64(n))
            // Heavy tails, specials and raw bit patterns: rare exponents take the escape path.
            let specials: [UInt16] = [0x0000, 0x8000, 0x0001, 0x807F, 0x7F80, 0xFF80, 0x7FC0, 0xFFFF, 0x7F7F, 0x3F80, 0x4700]
            for k in 0..<(n / 10) {
                let i = Int.random(in: 0..<n, using: &rng)
                let v = k % 3 == 0 ? specials[k % specials.count] : UInt16.random(in: 0...UInt16.max, using: &rng)
                bytes[2 * i] = UInt8(v & 0xFF)
                bytes[2 * i + 1] = UInt8(v >> 8)
            }
            let encoded = encode(bytes)
            XCTAssertEqual(encoded[0], 3, "n = \(n)")
            XCTAssertEqual(try decode(encoded, count: bytes.count), bytes, "n = \(n)")
        }
        // Below the minimum the coder declines and the planes format is used.
        let small = weights(4095, seed: 34)
        XCTAssertNil(small.withUnsafeBytes { BF16ContextCoder.encode($0.baseAddress!, count: 4095) })
        XCTAssertEqual(try decode(encode(small), count: small.count), small)
    }

    /// Constants and quantisation grids are not trained weights: zstd's matches beat the
    /// context coder's raw nibbles there, and the codec must keep the smaller form.
    func testStructuredChunksKeepTheSmallerForm() throws {
        let constant = (0..<200_000).map { UInt8($0 % 2 == 0 ? 0x80 : 0x3F) }  // 1.0 as BF16, little-endian
        let encodedConstant = encode(constant)
        XCTAssertEqual(encodedConstant[0], 2)
        XCTAssertLessThan(encodedConstant.count, constant.count / 100)
        XCTAssertEqual(try decode(encodedConstant, count: constant.count), constant)

        var rng = SeededGenerator(seed: 35)
        let grid = (0..<100_000).map { _ in Float(Int.random(in: -8...7, using: &rng)) * 0.0125 }
        let gridBytes = TensorView(name: "g", shape: [grid.count], float32: grid, as: .bf16).copyBytes()
        let encodedGrid = encode(gridBytes)
        let context = gridBytes.withUnsafeBytes { BF16ContextCoder.encode($0.baseAddress!, count: grid.count)! }.payload.count + 8
        let planes = gridBytes.withUnsafeBytes { ChunkCodec().encodePlanes($0, dtype: .bf16) }.count
        XCTAssertEqual(encodedGrid.count, min(context, planes))
        XCTAssertEqual(try decode(encodedGrid, count: gridBytes.count), gridBytes)
    }

    /// Chunks stored before this coder existed (BF16 as zstd planes, format 2) still decode.
    func testPlaneFormatChunksStillDecode() throws {
        let bytes = weights(50_000, seed: 36)
        let planes = bytes.withUnsafeBytes { ChunkCodec().encodePlanes($0, dtype: .bf16) }
        XCTAssertEqual(planes[0], 2)
        XCTAssertEqual(try decode(planes, count: bytes.count), bytes)
    }

    /// Every truncation and extension throws; every corrupted byte either throws or changes the
    /// output (the store's hash check then reports it); nothing crashes. (20,480 elements: whole
    /// class bytes and nibble bytes, so no padding bit could change without effect.)
    func testCorruptionThrowsOrChangesTheOutput() throws {
        let bytes = weights(20_480, seed: 37)
        let good = encode(bytes)
        XCTAssertEqual(good[0], 3)
        var rng = SeededGenerator(seed: 38)
        for _ in 0..<40 {
            let cut = Int.random(in: 8..<(good.count - 1), using: &rng)
            XCTAssertThrowsError(try decode(Array(good[0..<cut]), count: bytes.count), "cut at \(cut)")
        }
        XCTAssertThrowsError(try decode(good + [0], count: bytes.count))
        var thrown = 0
        for trial in 0..<300 {
            var bad = good
            let at = Int.random(in: 8..<bad.count, using: &rng)
            bad[at] ^= UInt8.random(in: 1...255, using: &rng)
            do {
                let out = try decode(bad, count: bytes.count)
                XCTAssertNotEqual(out, bytes, "trial \(trial): byte \(at) changed and decoding did not notice")
            } catch {
                thrown += 1
            }
        }
        XCTAssertGreaterThan(thrown, 100, "the tables and the stream are checked, not only the hash")
    }

    /// A stream that takes a word at every step (empty tables) runs out long before the
    /// elements do: the per-block overrun check must stop it inside the padded buffer.
    func testStreamOverrunIsCaughtPerBlock() {
        let n = 16_384
        var chunk: [UInt8] = [3, 2, 1, 0] + withUnsafeBytes(of: UInt32(2 * n).littleEndian) { Array($0) }
        chunk += [BF16ContextCoder.version, UInt8(BF16ContextCoder.blockLog), 0]  // no nibble contexts
        for _ in 0..<(BF16ContextCoder.classCount + 1) { chunk += [0, 0] }  // every table empty
        chunk += [UInt8](repeating: 0, count: n / 256 / 4 + n / 2)  // block classes, low nibbles
        chunk += withUnsafeBytes(of: UInt32(8).littleEndian) { Array($0) } + [UInt8](repeating: 1, count: 16)
        var out = [UInt8](repeating: 0, count: 2 * n)
        XCTAssertThrowsError(try chunk.withUnsafeBytes { c in try out.withUnsafeMutableBytes { try ChunkCodec.decode(c, into: $0) } }) {
            XCTAssertTrue("\($0)".contains("corrupt"), "\($0)")
        }
    }

    /// The decoder derives tables of up to maxContexts x 16 + 1 joint symbols and 256 rare
    /// exponents at `jointTotal`: each must fit (normalize cannot give 1 to more symbols than
    /// its total), or crafted chunks could make every table empty.
    func testDerivedAlphabetsFitTheirPrecision() {
        XCTAssertLessThanOrEqual(BF16ContextCoder.maxContexts * 16 + 1, BF16ContextCoder.jointTotal)
        XCTAssertLessThanOrEqual(256, BF16ContextCoder.jointTotal)
        XCTAssertLessThanOrEqual(256, BF16ContextCoder.exponentTotal)
        XCTAssertLessThanOrEqual(16, BF16ContextCoder.nibbleTotal)
    }

    func testNormalizedTablesSumToTheirTotalAndKeepEverySymbol() {
        var rng = SeededGenerator(seed: 39)
        let cases: [[Int]] = [
            [1_000_000] + [Int](repeating: 1, count: 255),  // rare symbols rounded up to 1, absorbed by the largest
            [Int](repeating: 1, count: 128) + [Int](repeating: 3, count: 128),  // at 256: 1s stay, 3s round to 2, excess 128 > largest
            (0..<256).map { _ in Int.random(in: 0...5, using: &rng) },
            [0, 0, 7, 0],
            [3],
        ]
        for counts in cases {
            for total in [256, 2048, 4096] where counts.filter({ $0 > 0 }).count <= total {
                let f = counts.withUnsafeBufferPointer { Rans.normalize($0, total: total) }
                XCTAssertEqual(f.reduce(0) { $0 + Int($1) }, total)
                for (c, v) in zip(counts, f) { XCTAssertEqual(c > 0, v > 0) }
            }
        }
        XCTAssertEqual([0, 0].withUnsafeBufferPointer { Rans.normalize($0, total: 256) }, [0, 0])
        // More counted symbols than the total: nothing fits, an empty table instead of a hang.
        XCTAssertEqual([Int](repeating: 1, count: 300).withUnsafeBufferPointer { Rans.normalize($0, total: 256) }, [UInt16](repeating: 0, count: 300))
    }
}

/// Stored chunks must decode forever: the decoder rebuilds its joint tables with
/// `Rans.normalize`, so a change there (or anywhere in the format) would turn every stored BF16
/// chunk into "corrupt". These fixtures were written by our own encoder on purpose; never
/// regenerate one, add a new one when the format changes (see Fixtures/README.md).
final class StoredChunkFormatTests: XCTestCase {
    static let directory = Fixtures.root.appendingPathComponent("store")

    /// 20,000 BF16 elements from integer arithmetic only (portable, unlike libm): exponents
    /// around 120 that shift every 500 elements, random mantissas and signs, a few specials.
    static func elements() -> [UInt8] {
        var rng = SeededGenerator(seed: 41)
        var bytes: [UInt8] = []
        var shift: UInt16 = 0
        for i in 0..<20_000 {
            if i % 500 == 0 { shift = UInt16(rng.next() % 5) }
            let r = rng.next()
            let spread = UInt16(r & 3) + UInt16((r >> 2) & 3) + UInt16((r >> 4) & 3)  // 0...9, peaked
            var v = (112 + shift + spread) << 7 | UInt16((r >> 8) & 0x7F) | UInt16((r >> 15) & 1) << 15
            if i % 997 == 0 { v = [0x0000, 0x8000, 0x7F80, 0x0001][(i / 997) % 4] }
            bytes += [UInt8(v & 0xFF), UInt8(v >> 8)]
        }
        return bytes
    }

    func testFormatThreeChunkWrittenBeforeStillDecodes() throws {
        let url = Self.directory.appendingPathComponent("bf16-format3-v1.chunk")
        let raw = Self.elements()
        if ProcessInfo.processInfo.environment["RECALL_WRITE_STORE_FIXTURES"] == "1" && !FileManager.default.fileExists(atPath: url.path) {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Data(raw.withUnsafeBytes { ChunkCodec().encode($0, dtype: .bf16) }).write(to: url)
        }
        let stored = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(stored[0], 3, "the fixture is a format-3 chunk")
        var out = [UInt8](repeating: 0, count: raw.count)
        _ = try stored.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try ChunkCodec.decode(s, into: $0) } }
        XCTAssertEqual(out, raw)
    }
}
