import XCTest
@testable import RecallTensor
import RecallTestSupport

/// Every malformed GGUF gets its own one-line error naming the file and the field, never a crash
/// or an allocation sized by a lying count.
final class GGUFBadFileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    func open(_ url: URL) throws { _ = try GGUFFile(url: url) }

    /// One F32 tensor "t" of 4 values after one metadata entry: the baseline the others break.
    func valid() -> GGUFBuilder {
        var b = GGUFBuilder(tensors: 1, kvs: 1)
        b.kvString("general.architecture", "test")
        b.tensorInfo("t", dims: [4], type: 0, offset: 0)
        b.pad()
        for v: Float in [1, 2, 3, 4] { b.f32(v) }
        return b
    }

    func testValidBaselineOpens() throws {
        let f = try GGUFFile(url: try valid().write(dir))
        XCTAssertEqual(f.tensors.count, 1)
        XCTAssertEqual(try f.tensor(named: "t").toFloat32(), [1, 2, 3, 4])
    }

    func testEmptyAndTooShort() throws {
        let empty = dir.appendingPathComponent("empty.gguf")
        try Data().write(to: empty)
        assertRecallError([empty.path, "too short"]) { try open(empty) }
        let short = dir.appendingPathComponent("short.gguf")
        try Data(Array("GGUF".utf8) + [3, 0]).write(to: short)
        assertRecallError([short.path, "too short", "truncated"]) { try open(short) }
    }

    func testBadMagic() throws {
        let url = try GGUFBuilder(tensors: 0, kvs: 0, magic: Array("GGML".utf8)).write(dir)
        assertRecallError([url.path, "not a GGUF file", "47 47 4d 4c"]) { try open(url) }
        let st = Fixtures.url("safetensors/dtypes.safetensors")
        assertRecallError([st.path, "not a GGUF file"]) { try open(st) }
    }

    func testVersions() throws {
        let v1 = try GGUFBuilder(version: 1, tensors: 0, kvs: 0).write(dir, "v1.gguf")
        assertRecallError([v1.path, "version 1 is not supported"]) { try open(v1) }
        let v9 = try GGUFBuilder(version: 9, tensors: 0, kvs: 0).write(dir, "v9.gguf")
        assertRecallError([v9.path, "unknown GGUF version 9"]) { try open(v9) }
        let be = try GGUFBuilder(version: UInt32(3).byteSwapped, tensors: 0, kvs: 0).write(dir, "be.gguf")
        assertRecallError([be.path, "big-endian"]) { try open(be) }
    }

    func testAbsurdTensorCount() throws {
        let url = try GGUFBuilder(tensors: UInt64.max, kvs: 0).write(dir)
        assertRecallError([url.path, "tensor count 18446744073709551615 is impossible"]) { try open(url) }
        var b = GGUFBuilder(tensors: 1_000_000, kvs: 0)
        b.tensorInfo("t", dims: [4], type: 0, offset: 0)
        let url2 = try b.write(dir, "count2.gguf")
        assertRecallError([url2.path, "tensor count 1000000 is impossible"]) { try open(url2) }
    }

    func testAbsurdMetadataCount() throws {
        let url = try GGUFBuilder(tensors: 0, kvs: 1 << 60).write(dir)
        assertRecallError([url.path, "metadata count", "impossible"]) { try open(url) }
    }

    func testAbsurdArrayCount() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 1)
        b.string("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(UInt64.max / 2)
        b.string("a")
        let url = try b.write(dir)
        assertRecallError([url.path, "metadata \"tokenizer.ggml.tokens\"", "cannot fit"]) { try open(url) }
    }

    func testStringLengthPastEndOfFile() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 1)
        b.string("general.name"); b.u32(8); b.u64(1 << 40); b.bytes += Array("abc".utf8)
        let url = try b.write(dir)
        assertRecallError([url.path, "metadata \"general.name\"", "claims 1099511627776 bytes"]) { try open(url) }
    }

    func testTruncatedAnywhereNeverCrashes() throws {
        let full = [UInt8](try Data(contentsOf: Fixtures.url("gguf/quants.gguf")))
        let intact = try GGUFFile(url: Fixtures.url("gguf/quants.gguf"))
        // Past the last tensor's end there is only padding, which a reader need not have.
        let end = intact.dataOffset + intact.tensors.map { $0.offset + $0.byteCount }.max()!
        var checked = 0
        for cut in stride(from: 0, to: end, by: 23) {
            let url = dir.appendingPathComponent("cut.gguf")
            try Data(full[0..<cut]).write(to: url)
            do {
                _ = try GGUFFile(url: url)
                XCTFail("cut at \(cut) of \(full.count) opened")
            } catch let e as RecallError {
                XCTAssertTrue(e.message.contains(url.path), e.message)
                XCTAssertTrue(e.message.contains("truncated") || e.message.contains("too short") || e.message.contains("corrupt"), e.message)
                XCTAssertFalse(e.message.contains("\n"))
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 200)
    }

    func testTruncatedTensorData() throws {
        var b = valid()
        b.bytes.removeLast(3)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"t\"", "runs past the end of the data section", "truncated"]) { try open(url) }
    }

    func testOffsetPastEndOfFile() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [8, 2], type: 0, offset: 1 << 20)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 64)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "[1048576, 1048640)", "runs past the end"]) { try open(url) }
    }

    func testHugeOffsetDoesNotOverflow() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [8], type: 0, offset: UInt64.max - 31)
        b.pad()
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "past the end"]) { try open(url) }
    }

    func testMisalignedOffset() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [2], type: 0, offset: 4)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 32)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "offset 4 is not a multiple of the alignment 32"]) { try open(url) }
    }

    func testOverlappingTensors() throws {
        var b = GGUFBuilder(tensors: 2, kvs: 0)
        b.tensorInfo("a", dims: [16], type: 0, offset: 0)
        b.tensorInfo("b", dims: [16], type: 0, offset: 32)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 128)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"b\"", "overlaps"]) { try open(url) }
    }

    func testUnknownGGMLType() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [32], type: 99, offset: 0)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 64)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "unknown ggml type id 99"]) { try open(url) }
    }

    func testRowNotMultipleOfBlockSize() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [33, 2], type: 8, offset: 0)
        b.pad()
        b.bytes += [UInt8](repeating: 0, count: 128)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "row length 33", "Q8_0 block size 32"]) { try open(url) }
    }

    func testTooManyDimensions() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [1, 1, 1, 1, 1], type: 0, offset: 0)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "5 dimensions"]) { try open(url) }
    }

    func testDimensionOverflow() throws {
        var b = GGUFBuilder(tensors: 1, kvs: 0)
        b.tensorInfo("w", dims: [1 << 40, 1 << 40], type: 0, offset: 0)
        let url = try b.write(dir)
        assertRecallError([url.path, "tensor \"w\"", "overflow"]) { try open(url) }
    }

    func testDuplicates() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 2)
        b.kvU32("a.b", 1); b.kvU32("a.b", 2)
        let url = try b.write(dir)
        assertRecallError([url.path, "metadata key \"a.b\" appears twice"]) { try open(url) }
        var t = GGUFBuilder(tensors: 2, kvs: 0)
        t.tensorInfo("w", dims: [8], type: 0, offset: 0)
        t.tensorInfo("w", dims: [8], type: 0, offset: 32)
        t.pad(); t.bytes += [UInt8](repeating: 0, count: 64)
        let url2 = try t.write(dir, "dup2.gguf")
        assertRecallError([url2.path, "tensor name \"w\" appears twice"]) { try open(url2) }
    }

    func testBadAlignment() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 1)
        b.kvU32("general.alignment", 48)
        let url = try b.write(dir)
        assertRecallError([url.path, "general.alignment 48 is not a power of two"]) { try open(url) }
        var c = GGUFBuilder(tensors: 0, kvs: 1)
        c.string("general.alignment"); c.u32(10); c.u64(64)
        let url2 = try c.write(dir, "align2.gguf")
        assertRecallError([url2.path, "general.alignment is UINT64, must be UINT32"]) { try open(url2) }
    }

    func testUnknownValueTypes() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 1)
        b.string("x"); b.u32(13); b.u32(0)
        let url = try b.write(dir)
        assertRecallError([url.path, "metadata \"x\"", "unknown value type 13"]) { try open(url) }
        var c = GGUFBuilder(tensors: 0, kvs: 1)
        c.string("y"); c.u32(9); c.u32(77); c.u64(0)
        let url2 = try c.write(dir, "arr.gguf")
        assertRecallError([url2.path, "metadata \"y\"", "unknown array element type 77"]) { try open(url2) }
        var d = GGUFBuilder(tensors: 0, kvs: 1)
        d.string("z"); d.u32(7); d.u8(2)
        let url3 = try d.write(dir, "bool.gguf")
        assertRecallError([url3.path, "metadata \"z\"", "bool byte is 2"]) { try open(url3) }
    }

    func testDeepNestingIsRefused() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 1)
        b.string("deep"); b.u32(9)
        for _ in 0..<100 { b.u32(9); b.u64(1) }
        b.u32(4); b.u64(1); b.u32(7)
        let url = try b.write(dir)
        assertRecallError([url.path, "metadata \"deep\"", "nested more than 16"]) { try open(url) }
    }

    func testEmptyArraysAndZeroTensors() throws {
        var b = GGUFBuilder(tensors: 0, kvs: 2)
        b.string("empty"); b.u32(9); b.u32(8); b.u64(0)
        b.string("nested_empty"); b.u32(9); b.u32(9); b.u64(1); b.u32(5); b.u64(0)
        let f = try GGUFFile(url: try b.write(dir))
        XCTAssertEqual(f["empty"], .array(.string, []))
        XCTAssertEqual(f["nested_empty"], .array(.array, [.array(.int32, [])]))
        XCTAssertTrue(f.tensors.isEmpty)
    }
}
