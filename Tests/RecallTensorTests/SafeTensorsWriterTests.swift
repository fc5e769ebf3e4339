import XCTest
@testable import RecallTensor
import RecallTestSupport

final class SafeTensorsWriterTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    /// One tensor of every dtype with seeded bytes, plus 0-d and empty tensors.
    func sampleTensors() -> [TensorView] {
        var rng = SeededGenerator(seed: 42)
        var out: [TensorView] = []
        for (k, dtype) in DType.allCases.enumerated() {
            let shape = [k % 3 + 1, 5, 3]
            let count = shape.reduce(1, *) * dtype.byteSize
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            out.append(TensorView(name: "t.\(dtype.rawValue.lowercased())", dtype: dtype, shape: shape, copying: bytes))
        }
        out.append(TensorView(name: "scalar", dtype: .f32, shape: [], copying: [0, 0, 0x80, 0x3F]))
        out.append(TensorView(name: "empty", dtype: .bf16, shape: [0], copying: []))
        out.append(TensorView(name: "empty2d", dtype: .i64, shape: [2, 0], copying: []))
        return out
    }

    func testRoundTripIsBitExactForEveryDType() throws {
        let tensors = sampleTensors()
        let url = dir.appendingPathComponent("all.safetensors")
        try SafeTensorsWriter(metadata: ["recall.note": "x"]).write(tensors, to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(Set(file.infos.map(\.name)), Set(tensors.map(\.name)))
        for t in tensors {
            let back = try file.tensor(named: t.name)
            XCTAssertEqual(back.info, t.info)
            XCTAssertEqual(back.copyBytes(), t.copyBytes(), t.name)
        }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: file.metadata.map { ($0.0, $0.1) }), ["format": "pt", "recall.note": "x"])
    }

    func testLayoutIsDeterministicAlignedAndPadded() throws {
        let tensors = sampleTensors()
        let a = dir.appendingPathComponent("a.safetensors"), b = dir.appendingPathComponent("b.safetensors")
        try SafeTensorsWriter().write(tensors, to: a)
        try SafeTensorsWriter().write(tensors.reversed(), to: b)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), "input order must not change the bytes")
        let file = try SafeTensorsFile(url: a)
        XCTAssertEqual(file.headerLength % 8, 0, "header padded to 8 bytes")
        let raw = try Data(contentsOf: a)
        let header = raw[8..<(8 + file.headerLength)]
        XCTAssertTrue(String(decoding: header, as: UTF8.self).hasPrefix(#"{"__metadata__":{"format":"pt"}"#))
        for (info, range) in zip(file.infos, file.dataOffsets) {
            XCTAssertEqual((file.dataStart + range.lowerBound) % info.dtype.byteSize, 0, "\(info.name) aligned")
        }
        // Rewriting what was read gives the same bytes again.
        let c = dir.appendingPathComponent("c.safetensors")
        try SafeTensorsWriter().write(file.infos.map { try! file.tensor(named: $0.name) }, to: c)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: c))
    }

    func testBF16ToF32ToBF16IsExact() throws {
        var rng = SeededGenerator(seed: 9)
        let values = (0..<4099).map { _ in Float.random(in: -3...3, using: &rng) }
        let bf16 = TensorView(name: "w", shape: [4099], float32: values, as: .bf16)
        let f32URL = dir.appendingPathComponent("f32.safetensors"), backURL = dir.appendingPathComponent("back.safetensors")
        try SafeTensorsWriter(dtype: .f32).write([bf16], to: f32URL)
        let wide = try SafeTensorsFile(url: f32URL).tensor(named: "w")
        XCTAssertEqual(wide.dtype, .f32)
        try SafeTensorsWriter(dtype: .bf16).write([wide], to: backURL)
        XCTAssertEqual(try SafeTensorsFile(url: backURL).tensor(named: "w").copyBytes(), bf16.copyBytes())
    }

    func testConversionLeavesNonFloatTensorsAlone() throws {
        let ids = TensorView(name: "ids", dtype: .i64, shape: [2], copying: [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
        let w = TensorView(name: "w", shape: [2], float32: [1, 2])
        let url = dir.appendingPathComponent("m.safetensors")
        try SafeTensorsWriter(dtype: .f16).write([ids, w], to: url)
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(try f.tensor(named: "ids").copyBytes(), ids.copyBytes())
        XCTAssertEqual(try f.tensor(named: "w").dtype, .f16)
        XCTAssertEqual(try f.tensor(named: "w").toFloat32(), [1, 2])
    }

    func testDuplicateNamesAreRejectedAndNothingIsLeftBehind() throws {
        let url = dir.appendingPathComponent("dup.safetensors")
        let t = TensorView(name: "x", shape: [1], float32: [1])
        assertRecallError(["\"x\"", "twice"]) { try SafeTensorsWriter().write([t, t], to: url) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testShardingByByteBudget() throws {
        let tensors = (0..<10).map { TensorView(name: String(format: "layer.%02d", $0), shape: [256], float32: [Float](repeating: Float($0), count: 256)) }
        let out = dir.appendingPathComponent("sharded")
        let files = try SafeTensorsWriter().writeSharded(tensors, to: out, maxShardBytes: 2500)
        // 1 KiB per tensor, 2500-byte budget -> two tensors per shard, five shards, plus the index.
        XCTAssertEqual(files.map(\.lastPathComponent), (1...5).map { String(format: "model-%05d-of-00005.safetensors", $0) } + ["model.safetensors.index.json"])
        let ckpt = try ShardedCheckpoint(indexURL: out.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertEqual(ckpt.infos.map(\.name), tensors.map(\.name))
        for t in tensors { XCTAssertEqual(try ckpt.tensor(named: t.name).copyBytes(), t.copyBytes()) }
        let index = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("model.safetensors.index.json")))
        XCTAssertEqual(index["metadata"]?["total_size"]?.intValue, 10 * 1024)
        XCTAssertEqual(index["weight_map"]?["layer.03"]?.stringValue, "model-00002-of-00005.safetensors")

        // Without a budget (or when everything fits) a single model.safetensors replaces the shards.
        let single = try SafeTensorsWriter().writeSharded(tensors, to: out, maxShardBytes: nil)
        XCTAssertEqual(single.map(\.lastPathComponent), ["model.safetensors"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors.index.json").path))
    }

    func testOversizedTensorGetsItsOwnShard() throws {
        let big = TensorView(name: "big", shape: [1000], float32: [Float](repeating: 1, count: 1000))
        let small = TensorView(name: "small", shape: [2], float32: [1, 2])
        let files = try SafeTensorsWriter().writeSharded([big, small], to: dir, maxShardBytes: 100)
        XCTAssertEqual(files.count, 3)
    }

    /// With `prefetch` the next tensor is requested on another thread while one is written: the
    /// file must be byte-identical to the plain write, every tensor asked for exactly once, and
    /// a failing request must fail the write with its error, leave no file behind and not be
    /// left running (the source is never called after `write` returns).
    func testPrefetchWritesTheSameBytesAndStopsOnAFailingTensor() throws {
        let tensors = sampleTensors()
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let plain = dir.appendingPathComponent("plain.safetensors"), ahead = dir.appendingPathComponent("ahead.safetensors")
        try SafeTensorsWriter(dtype: .bf16).write(infos: tensors.map(\.info), to: plain) { byName[$0]! }
        let lock = NSLock()
        var asked: [String] = []
        try SafeTensorsWriter(dtype: .bf16, prefetch: true).write(infos: tensors.map(\.info), to: ahead) { name in
            lock.lock(); asked.append(name); lock.unlock()
            return byName[name]!
        }
        XCTAssertEqual(try Data(contentsOf: ahead), try Data(contentsOf: plain))
        XCTAssertEqual(asked.sorted(), tensors.map(\.name).sorted())

        let broken = dir.appendingPathComponent("broken.safetensors")
        var callsAfterReturn = 0
        var returned = false
        let failing = tensors[3].name
        assertRecallError(["tensor \(failing)", "cannot be computed"]) {
            try SafeTensorsWriter(prefetch: true).write(infos: tensors.map(\.info), to: broken) { name in
                Thread.sleep(forTimeInterval: 0.01)  // still running when the writer would leave early
                lock.lock(); if returned { callsAfterReturn += 1 }; lock.unlock()
                if name == failing { throw RecallError(.invalidFile, "tensor \(name) cannot be computed") }
                return byName[name]!
            }
        }
        lock.lock(); returned = true; lock.unlock()
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(callsAfterReturn, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: broken.path))
    }
}
