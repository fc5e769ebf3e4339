import XCTest
@testable import RecallTensor
import RecallTestSupport

/// Every malformed file gets its own one-line error naming the file and the problem, never a crash.
final class SafeTensorsBadFileTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    /// Writes `8-byte length + header + data`, with the length field overridable.
    func file(_ header: String, data: [UInt8], lengthField: UInt64? = nil, name: String = "bad.safetensors") throws -> URL {
        var bytes: [UInt8] = []
        let h = Array(header.utf8)
        withUnsafeBytes(of: (lengthField ?? UInt64(h.count)).littleEndian) { bytes += $0 }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func open(_ url: URL) throws { _ = try SafeTensorsFile(url: url) }

    func testValidBaselineOpens() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(f.infos, [TensorInfo(name: "a", dtype: .f32, shape: [2])])
    }

    func testTooShort() throws {
        let url = dir.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        assertRecallError([url.path, "too short"]) { try open(url) }
    }

    func testEmptyFile() throws {
        let url = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: url)
        assertRecallError([url.path, "too short"]) { try open(url) }
    }

    func testTruncatedData() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 10))
        assertRecallError([url.path, "tensor \"a\"", "run past the data buffer", "truncated"]) { try open(url) }
    }

    func testHeaderLengthPastEndOfFile() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0], lengthField: 4096)
        assertRecallError([url.path, "header length 4096", "past the end of the file"]) { try open(url) }
    }

    func testHeaderLengthOverLimit() throws {
        let url = try file("{}", data: [], lengthField: 200_000_000)
        assertRecallError([url.path, "100 MB limit"]) { try open(url) }
    }

    func testHeaderNotJSON() throws {
        let url = try file("{this is not json}", data: [])
        assertRecallError([url.path, "not valid JSON"]) { try open(url) }
    }

    func testHeaderNotStartingWithBrace() throws {
        let url = try file("[1,2]", data: [])
        assertRecallError([url.path, "does not start with '{'"]) { try open(url) }
    }

    func testHeaderNotUTF8() throws {
        var bytes: [UInt8] = []
        let h: [UInt8] = Array(#"{"a"#.utf8) + [0xFF, 0xFE] + Array(#"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#.utf8)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { bytes += $0 }
        bytes += h + [7]
        let url = dir.appendingPathComponent("utf8.safetensors")
        try Data(bytes).write(to: url)
        assertRecallError([url.path, "UTF-8"]) { try open(url) }
    }

    func testUnknownDType() throws {
        let url = try file(#"{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertRecallError([url.path, "tensor \"a\"", "unknown dtype \"F12\""]) { try open(url) }
    }

    func testOverlappingOffsets() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                           data: [UInt8](repeating: 0, count: 12))
        assertRecallError([url.path, "tensor \"b\"", "overlap"]) { try open(url) }
    }

    func testGapBetweenTensors() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                           data: [UInt8](repeating: 0, count: 12))
        assertRecallError([url.path, "tensor \"b\"", "gap of 4 bytes"]) { try open(url) }
    }

    func testTrailingUnindexedBytes() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 9))
        assertRecallError([url.path, "5 bytes after the last tensor"]) { try open(url) }
    }

    func testOutOfRangeOffsets() throws {
        let url = try file(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[100,104]}}"#, data: [UInt8](repeating: 0, count: 4))
        assertRecallError([url.path, "tensor \"a\"", "[100, 104]", "run past"]) { try open(url) }
    }

    func testReversedOffsets() throws {
        let url = try file(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: [UInt8](repeating: 0, count: 4))
        assertRecallError([url.path, "tensor \"a\"", "reversed"]) { try open(url) }
    }

    func testShapeSizeMismatch() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        assertRecallError([url.path, "tensor \"a\"", "needs 12 bytes", "span 8"]) { try open(url) }
    }

    func testNegativeDimension() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertRecallError([url.path, "tensor \"a\"", "non-negative"]) { try open(url) }
    }

    func testOverflowingShape() throws {
        let url = try file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertRecallError([url.path, "tensor \"a\"", "too large"]) { try open(url) }
    }

    func testDuplicateNames() throws {
        let url = try file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                           data: [1, 2])
        assertRecallError([url.path, "twice", "\"a\""]) { try open(url) }
    }

    func testMissingFields() throws {
        let url = try file(#"{"a":{"dtype":"U8","shape":[1]}}"#, data: [1])
        assertRecallError([url.path, "tensor \"a\"", "data_offsets"]) { try open(url) }
    }

    func testMetadataMustBeStrings() throws {
        let url = try file(#"{"__metadata__":{"n":3},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [1])
        assertRecallError([url.path, "__metadata__[\"n\"]", "not a string"]) { try open(url) }
    }

    func testMissingFile() {
        let url = dir.appendingPathComponent("nope.safetensors")
        assertRecallError([url.path, "cannot open"]) { try open(url) }
    }

    func testDirectoryIsNotAFile() throws {
        assertRecallError([dir.path, "not a regular file"]) { _ = try SafeTensorsFile(url: dir) }
    }

    // MARK: Sharded index

    func shard(_ name: String, tensors: [String]) throws {
        let writer = SafeTensorsWriter()
        try writer.write(tensors.map { TensorView(name: $0, shape: [2], float32: [1, 2]) }, to: dir.appendingPathComponent(name))
    }

    func index(_ map: [String: String]) throws -> URL {
        let url = dir.appendingPathComponent("model.safetensors.index.json")
        let json = JSONValue.object([("metadata", .object([])), ("weight_map", .object(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))])
        try Data(json.serialized().utf8).write(to: url)
        return url
    }

    func testIndexNamingMissingShard() throws {
        try shard("a.safetensors", tensors: ["x"])
        let url = try index(["x": "a.safetensors", "y": "b.safetensors"])
        assertRecallError([url.path, "shard \"b.safetensors\"", "missing"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }

    func testIndexListingTensorAbsentFromShard() throws {
        try shard("a.safetensors", tensors: ["x"])
        let url = try index(["x": "a.safetensors", "z": "a.safetensors"])
        assertRecallError([url.path, "\"z\"", "does not hold it"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }

    func testShardHoldingUnlistedTensor() throws {
        try shard("a.safetensors", tensors: ["x", "extra"])
        let url = try index(["x": "a.safetensors"])
        assertRecallError([url.path, "\"extra\"", "does not list"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }

    func testIndexWithoutWeightMap() throws {
        let url = dir.appendingPathComponent("model.safetensors.index.json")
        try Data(#"{"metadata":{}}"#.utf8).write(to: url)
        assertRecallError([url.path, "weight_map"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }

    func testIndexEscapingItsDirectory() throws {
        let url = try index(["x": "../a.safetensors"])
        assertRecallError([url.path, "not a plain file name"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }

    func testCorruptShardNamesTheShard() throws {
        let bad = dir.appendingPathComponent("a.safetensors")
        try Data([1, 2, 3]).write(to: bad)
        let url = try index(["x": "a.safetensors"])
        assertRecallError([bad.path, "too short"]) { _ = try ShardedCheckpoint(indexURL: url) }
    }
}
