import XCTest
@testable import RecallTensor
@testable import RecallMerge
@testable import RecallStore
import RecallTestSupport

/// The LMDB blob store, used for real (no mock): round trips, deduplication, verify, gc, growth.
final class BlobStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    /// A small in-memory checkpoint with seeded weights.
    final class MemorySource: TensorSource, @unchecked Sendable {
        var tensors: [TensorView]
        init(_ tensors: [TensorView]) { self.tensors = tensors }
        var infos: [TensorInfo] { tensors.map(\.info) }
        var metadata: [(String, String)] { [] }
        func tensor(named name: String) throws -> TensorView {
            guard let t = tensors.first(where: { $0.name == name }) else { throw RecallError(.notFound, name) }
            return t
        }
    }

    func model(seed: UInt64, dtype: DType = .bf16, rows: Int = 64) -> MemorySource {
        var rng = SeededGenerator(seed: seed)
        func w(_ name: String, _ shape: [Int]) -> TensorView {
            TensorView(name: name, shape: shape, float32: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }, as: dtype)
        }
        return MemorySource([
            w("model.embed_tokens.weight", [rows, 32]), w("model.layers.0.mlp.up_proj.weight", [96, 32]),
            w("model.norm.weight", [32]),
            TensorView(name: "ids", dtype: .i64, shape: [3], copying: (0..<24).map { UInt8($0) }),
            TensorView(name: "empty", dtype: .f32, shape: [0], copying: []),
        ])
    }

    func assertSameTensors(_ a: TensorSource, _ b: TensorSource, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.infos.map(\.name).sorted(), b.infos.map(\.name).sorted(), file: file, line: line)
        for info in a.infos {
            let x = try a.tensor(named: info.name), y = try b.tensor(named: info.name)
            XCTAssertEqual(x.info, y.info, file: file, line: line)
            XCTAssertEqual(x.copyBytes(), y.copyBytes(), info.name, file: file, line: line)
        }
    }

    func testRoundTripIsBitExactForEveryDType() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 1000)
        for dtype in [DType.f32, .f16, .bf16] {
            let m = model(seed: 1, dtype: dtype)
            let (hash, stats) = try store.put(m, metadata: [("task", "a")])
            XCTAssertEqual(stats.rawBytes, m.totalBytes)
            XCTAssertGreaterThan(stats.newChunks, 5, "chunked at 1000 bytes")
            let back = try store.checkpoint(hash)
            try assertSameTensors(m, back)
            XCTAssertEqual(back.metadata.first?.1, "a")
        }
        XCTAssertTrue(try store.verify().isClean)
    }

    /// Many small batches, so chunks are compressed and written behind the put while it hashes
    /// the next ones: a chunk repeated in the batch in flight is stored once and counted once,
    /// the chunk-bytes total equals the sum of the stored values, and every tensor comes back.
    func testPutsInManyBatchesStoreEachChunkOnceAndComeBackBitExact() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 1024, batchBytes: 4096)
        // 16 tensors of 5 chunks, each followed by a copy under another name: the copy's chunks
        // repeat ones 5 chunks back, pending in this batch or in the one in flight.
        var rng = SeededGenerator(seed: 3)
        let originals = (0..<16).map { i in
            TensorView(name: "t\(i)", shape: [80, 32], float32: (0..<2560).map { _ in Float.random(in: -0.1...0.1, using: &rng) }, as: .bf16)
        }
        let m = MemorySource(originals)
        let twice = MemorySource(originals.flatMap { [$0, TensorView(name: $0.name + ".again", dtype: $0.dtype, shape: $0.shape, copying: $0.copyBytes())] })
        let (hash, stats) = try store.put(twice)
        let single = try BlobStore(directory: dir.appendingPathComponent("single"), chunkBytes: 1024, batchBytes: 1 << 30).put(m).stats
        XCTAssertGreaterThan(single.newChunks * 1024, 8 * 4096, "the model spans many batches")
        XCTAssertEqual(stats.newChunks, single.newChunks, "the repeated tensors add no chunk")
        XCTAssertEqual(stats.uniqueBytes, single.uniqueBytes)
        XCTAssertEqual(stats.deduplicatedChunks, single.deduplicatedChunks + single.newChunks + single.deduplicatedChunks)
        XCTAssertEqual(stats.storedBytes, single.storedBytes)
        XCTAssertEqual(try store.chunkStatistics().storedBytes, stats.storedBytes)
        XCTAssertEqual(try store.chunkStatistics().count, stats.newChunks)
        try assertSameTensors(twice, try store.checkpoint(hash))
        XCTAssertTrue(try store.verify().isClean)
    }

    /// Commits of more than a megabyte first extend the data file with zeros in small writes
    /// (`LMDBEnvironment.prefaultTail`); the zeros only ever land past the last committed page,
    /// so every model put before and after, in this process and after reopening, comes back
    /// bit-exact and verify finds nothing wrong. Small commits write no zeros.
    func testLargeCommitsExtendTheFileFirstAndEveryModelStaysIntact() throws {
        var rng = SeededGenerator(seed: 5)
        func big(_ seed: Int) -> MemorySource {
            MemorySource((0..<3).map { i in
                TensorView(name: "w\(seed).\(i)", shape: [512, 768], float32: (0..<393_216).map { _ in Float.random(in: -1...1, using: &rng) }, as: .f32)
            })
        }
        var hashes: [(String, MemorySource)] = []
        do {
            let store = try BlobStore(directory: dir, chunkBytes: 1 << 20, batchBytes: 2 << 20)
            let small = model(seed: 9)
            hashes.append((try store.put(small).hash, small))
            XCTAssertEqual(store.env.prefaultedBytes, 0, "a small commit writes no zeros")
            for seed in 0..<2 {
                let m = big(seed)
                hashes.append((try store.put(m).hash, m))
            }
            XCTAssertGreaterThan(store.env.prefaultedBytes, 4 << 20, "the large commits extended the file first")
            for (hash, m) in hashes { try assertSameTensors(m, try store.checkpoint(hash)) }
        }
        let reopened = try BlobStore(directory: dir, chunkBytes: 1 << 20, batchBytes: 2 << 20)
        let m = big(2)
        hashes.append((try reopened.put(m).hash, m))
        for (hash, m) in hashes { try assertSameTensors(m, try reopened.checkpoint(hash)) }
        let report = try reopened.verify()
        XCTAssertTrue(report.isClean)
        XCTAssertEqual(report.unreferencedChunks, 0)
    }

    /// A put of a file-mapped model above `evictInputBytes` drops the file's pages from the page
    /// cache as they are stored (new chunks after their commit, known ones after hashing): the
    /// model comes back bit-exact and, on a disk filesystem, almost none of the file stays
    /// resident. Below the threshold the file stays cached.
    func testLargeInputsLeaveThePageCacheAsTheyAreStored() throws {
        var rng = SeededGenerator(seed: 6)
        let tensors = (0..<4).map { i in
            TensorView(name: "w\(i)", shape: [1024, 1024], float32: (0..<1_048_576).map { _ in Float.random(in: -1...1, using: &rng) }, as: .bf16)
        }
        let url = dir.appendingPathComponent("model.safetensors")
        try SafeTensorsWriter().write(tensors, to: url)
        func residentFraction() throws -> Double {
            let file = try MappedFile(url: url)
            _ = file.bytes.reduce(0) { $0 &+ Int($1) }   // read it all: every page cached
            return try PageCache.resident(url)
        }
        // Half the tensors already stored: their chunks are deduplicated, the rest are new.
        let store = try BlobStore(directory: dir.appendingPathComponent("store"), chunkBytes: 1 << 20, batchBytes: 2 << 20, evictInputBytes: 0)
        _ = try store.put(MemorySource(Array(tensors.prefix(2))))
        XCTAssertEqual(try residentFraction(), 1, accuracy: 0.01, "read whole, the file is cached")
        let (hash, stats) = try store.put(try SafeTensorsFile(url: url))
        XCTAssertEqual(stats.deduplicatedChunks, stats.newChunks, "half known, half new")
        if !PageCache.isTmpfs(dir) { XCTAssertLessThan(try PageCache.resident(url), 0.05, "the stored file left the page cache") }
        try assertSameTensors(MemorySource(tensors), try store.checkpoint(hash))

        let keeping = try BlobStore(directory: dir.appendingPathComponent("store2"), chunkBytes: 1 << 20, batchBytes: 2 << 20)
        XCTAssertGreaterThan(keeping.evictInputBytes, 1 << 30, "the default is a share of physical memory")
        _ = try residentFraction()
        _ = try keeping.put(try SafeTensorsFile(url: url))
        XCTAssertEqual(try PageCache.resident(url), 1, accuracy: 0.01, "a small model stays cached")
    }

    /// A BF16 tensor of trained-like weights (normal, rows of different scale) in one chunk:
    /// the store keeps exactly the context coder's encoding (format 3) and gives the bytes back.
    func testBF16WeightsAreStoredByTheContextCoderAndComeBackBitExact() throws {
        let store = try BlobStore(directory: dir)
        var rng = SeededGenerator(seed: 44)
        var scale: Float = 0.02
        let values = (0..<65_536).map { i -> Float in
            if i % 64 == 0 { scale = 0.02 * exp(Float.random(in: -1...1, using: &rng)) }
            let u = Float.random(in: Float.leastNormalMagnitude...1, using: &rng), v = Float.random(in: 0...1, using: &rng)
            return scale * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let m = MemorySource([TensorView(name: "model.layers.0.mlp.up_proj.weight", shape: [1024, 64], float32: values, as: .bf16)])
        let (hash, stats) = try store.put(m)
        let encoded = ChunkCodec(level: store.codec.level).encode(m.tensors[0].bytes, dtype: .bf16)
        XCTAssertEqual(encoded[0], 3, "format 3")
        XCTAssertEqual(try store.chunkStatistics().storedBytes, encoded.count)
        XCTAssertLessThan(Double(stats.storedBytes), 0.7 * Double(stats.rawBytes))
        try assertSameTensors(m, try store.checkpoint(hash))
        XCTAssertTrue(try store.verify().isClean)
    }

    func testSameContentIsStoredOnceAndOneTensorChangeAddsOnlyItsChunks() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 1024)
        let a = model(seed: 1)
        let (h1, s1) = try store.put(a)
        let (h2, s2) = try store.put(model(seed: 1))
        XCTAssertEqual(h1, h2)
        XCTAssertEqual(s2.newChunks, 0)
        XCTAssertEqual(s2.storedBytes, 0)
        XCTAssertEqual(s2.deduplicatedChunks, s1.newChunks + s1.deduplicatedChunks)
        let before = try store.chunkStatistics().count

        // Change one tensor: only its chunks are new.
        let b = model(seed: 1)
        let up = b.tensors[1]
        var values = try up.toFloat32()
        values[0] += 1
        b.tensors[1] = TensorView(name: up.name, shape: up.shape, float32: values, as: .bf16)
        let (h3, s3) = try store.put(b)
        XCTAssertNotEqual(h3, h1)
        XCTAssertEqual(s3.newChunks, 1, "the first 1 KiB chunk of up_proj changed, nothing else")
        XCTAssertEqual(try store.chunkStatistics().count, before + 1)
        try assertSameTensors(b, try store.checkpoint(h3))
    }

    func testVerifyFindsMissingAndCorruptChunksAndReadsRefuseThem() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 4096)
        let (hash, _) = try store.put(model(seed: 2))
        let m = try XCTUnwrap(store.manifest(hash))
        let victim = m.tensors.first { $0.info.name == "model.layers.0.mlp.up_proj.weight" }!
        // Corrupt one chunk in place (valid encoding, wrong bytes) and delete another.
        let good = try XCTUnwrap(store.env.read { try $0.get("chunks", Hex.decode(victim.chunks[0])) })
        let other = try XCTUnwrap(store.env.read { try $0.get("chunks", Hex.decode(m.tensors.first { $0.info.name == "model.embed_tokens.weight" }!.chunks[0])) })
        try store.env.write { txn in
            try txn.put("chunks", Hex.decode(victim.chunks[0]), other)
            try txn.delete("chunks", Hex.decode(m.tensors.first { $0.info.name == "model.norm.weight" }!.chunks[0]))
        }
        let report = try store.verify()
        XCTAssertFalse(report.isClean)
        XCTAssertEqual(report.missing.count, 1)
        XCTAssertTrue(report.missing[0].contains("model.norm.weight"))
        XCTAssertEqual(report.corrupt.count, 1)
        XCTAssertTrue(report.corrupt[0].contains("up_proj"))
        let ckpt = try store.checkpoint(hash)
        assertRecallError(["up_proj", "does not match its hash", "verify"]) { _ = try ckpt.tensor(named: victim.info.name) }
        assertRecallError(["model.norm.weight", "missing"]) { _ = try ckpt.tensor(named: "model.norm.weight") }
        // Repair and the store is clean again.
        try store.env.write { try $0.put("chunks", Hex.decode(victim.chunks[0]), good) }
        _ = try store.put(model(seed: 2))
        XCTAssertTrue(try store.verify().isClean)
    }

    func testGCRemovesOnlyUnreferencedChunks() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 2048)
        let (keep, _) = try store.put(model(seed: 3))
        let (drop, _) = try store.put(model(seed: 4))
        let total = try store.chunkStatistics().count
        try store.removeManifest(drop)
        XCTAssertGreaterThan(try store.verify().unreferencedChunks, 0)
        let report = try store.gc()
        XCTAssertGreaterThan(report.removedChunks, 0)
        XCTAssertEqual(report.removedChunks + report.keptChunks, total)
        XCTAssertTrue(try store.verify().isClean)
        XCTAssertEqual(try store.verify().unreferencedChunks, 0)
        try assertSameTensors(model(seed: 3), try store.checkpoint(keep))
        assertRecallError(["no checkpoint"]) { _ = try store.checkpoint(drop) }
    }

    /// The chunk totals status answers from (entry count + running byte total) equal a walk of every
    /// chunk after stores, a deduplicated store and a gc; a store without the total is walked once.
    func testChunkTotalsFollowPutsAndGCAndAreRebuiltWhenAbsent() throws {
        let store = try BlobStore(directory: dir, chunkBytes: 2048)
        func walked() throws -> (count: Int, storedBytes: Int) {
            try store.env.read { txn in
                var n = 0, bytes = 0
                try txn.forEach("chunks") { _, v in n += 1; bytes += v.count; return true }
                return (n, bytes)
            }
        }
        XCTAssertEqual(try store.chunkStatistics().count, 0)
        let (keep, _) = try store.put(model(seed: 5))
        let (drop, _) = try store.put(model(seed: 6))
        _ = try store.put(model(seed: 5))
        var expected = try walked()
        XCTAssertGreaterThan(expected.storedBytes, 0)
        XCTAssertTrue(try store.chunkStatistics() == expected)
        try store.removeManifest(drop)
        let report = try store.gc()
        XCTAssertGreaterThan(report.removedBytes, 0)
        expected = try walked()
        XCTAssertTrue(try store.chunkStatistics() == expected, "after gc")
        try store.env.write { txn in _ = try txn.delete("meta", BlobStore.chunkBytesKey) }
        XCTAssertTrue(try store.chunkStatistics() == expected, "rebuilt by a walk")
        XCTAssertNotNil(try store.env.read { try BlobStore.chunkBytes(in: $0) }, "and kept")
        _ = keep
    }

    func testMapGrowsInsteadOfFailing() throws {
        // A 1 MiB map cannot hold 6 MiB of incompressible-ish f32: the store must grow it.
        let store = try BlobStore(directory: dir, chunkBytes: 1 << 20, initialMapSize: 1 << 20)
        let m = model(seed: 5, dtype: .f32, rows: 40_000)
        let (hash, _) = try store.put(m)
        XCTAssertGreaterThan(store.env.mapSize, 1 << 20)
        try assertSameTensors(m, try store.checkpoint(hash))
        // Reopening adopts the larger map.
        let again = try BlobStore(directory: dir, initialMapSize: 1 << 20)
        try assertSameTensors(m, try again.checkpoint(hash))
    }

    func testRepresentationCache() throws {
        let store = try BlobStore(directory: dir)
        XCTAssertNil(try store.representation(model: "m", sample: "s", layer: 3))
        try store.putRepresentation(model: "m", sample: "s", layer: 3, [1, -2, 3.5])
        XCTAssertEqual(try store.representation(model: "m", sample: "s", layer: 3), [1, -2, 3.5])
        XCTAssertNil(try store.representation(model: "m", sample: "s", layer: 4))
    }

    func testExportFromStoreEqualsInput() throws {
        let store = try BlobStore(directory: dir.appendingPathComponent("store"))
        let source = try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded"))
        let (hash, _) = try store.put(source.weights)
        let out = dir.appendingPathComponent("export")
        try CheckpointWriter(maxShardBytes: 16_000).write(try store.checkpoint(hash), configJSON: source.configJSON,
                                                            sidecars: source.sidecarFiles, to: out)
        try assertSameTensors(source.weights, try Checkpoint.open(out).weights)
    }

    /// Work proportional to what changed: a merge whose inputs are stored models is stored by
    /// merging, hashing and compressing only the tensors where some input differs; the others'
    /// manifest entries are taken over, and the result is the same manifest a full put makes.
    func testMergeOfStoredModelsReusesTheTensorsNoInputChanges() throws {
        let store = try BlobStore(directory: dir)
        for dtype in [DType.bf16, .f32] {
        let base = model(seed: 1, dtype: dtype)
        var changedTensors = base.tensors
        changedTensors[1] = model(seed: 2, dtype: dtype).tensors[1]  // one expert changes the MLP weight only
        let baseHash = try store.put(base).hash, expertHash = try store.put(MemorySource(changedTensors)).hash
        let storedBase = try store.checkpoint(baseHash), storedExpert = try store.checkpoint(expertHash)
        for method in ["linear", "task_arithmetic", "ties"] {
            let m = try MergeMethods.named(method)
            let config = MergeConfiguration(method: m, base: m.needsBase ? MergeModel(name: "base", source: storedBase) : nil,
                                            models: [MergeModel(name: "b", source: storedBase, parameters: ["weight": .scalar(1), "density": .scalar(1)]),
                                                     MergeModel(name: "e", source: storedExpert, parameters: ["weight": .scalar(1), "density": .scalar(1)])])
            let (hash, stats) = try store.put(try MergedCheckpoint(config))
            // A linear average of equal F32 tensors may differ in the last bit: only ids and the
            // empty tensor are reused there.
            XCTAssertEqual(stats.reusedTensors, method == "linear" && dtype == .f32 ? 2 : 4, "\(method) \(dtype): all but the MLP weight are every input's bytes")
            // The same bytes as merging everything (a source that cannot reuse anything).
            let full = try MergedCheckpoint(config)
            let copy = MemorySource(try full.infos.map { try full.tensor(named: $0.name) })
            XCTAssertEqual(try store.put(copy).hash, hash, "\(method) \(dtype)")
        }
        }
    }
}

final class ChunkCodecTests: XCTestCase {
    func roundTrip(_ bytes: [UInt8], _ dtype: DType, level: Int32 = 3) throws -> [UInt8] {
        let encoded = bytes.withUnsafeBytes { ChunkCodec(level: level).encode($0, dtype: dtype) }
        var out = [UInt8](repeating: 0, count: bytes.count)
        let n = try encoded.withUnsafeBytes { e in try out.withUnsafeMutableBytes { try ChunkCodec.decode(e, into: $0) } }
        XCTAssertEqual(n, bytes.count)
        return out
    }

    func testEveryLayoutRoundTrips() throws {
        var rng = SeededGenerator(seed: 8)
        for dtype in DType.allCases {
            let floats = (0..<999).map { _ in Float.random(in: -1...1, using: &rng) }
            let noise = (0..<(999 * dtype.byteSize)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let smooth = TensorView(name: "x", shape: [999], float32: floats, as: dtype.isComputeFloat ? dtype : .f32).copyBytes()
            for bytes in [noise, smooth, [], [1, 2, 3]] {
                XCTAssertEqual(try roundTrip(bytes, dtype), bytes, "\(dtype) \(bytes.count)")
            }
        }
    }

    func testIncompressibleChunksAreStoredRawAndWeightsShrink() throws {
        var rng = SeededGenerator(seed: 9)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let encodedNoise = noise.withUnsafeBytes { ChunkCodec().encode($0, dtype: .u8) }
        XCTAssertEqual(encodedNoise[0], 0, "raw format flag")
        XCTAssertEqual(encodedNoise.count, noise.count + 8)
        // Gaussian-like bf16 weights: grouping must beat plain zstd on the same bytes.
        let weights = TensorView(name: "w", shape: [65536], float32: (0..<65536).map { _ in
            (Float.random(in: -1...1, using: &rng) + Float.random(in: -1...1, using: &rng)) * 0.02 }, as: .bf16).copyBytes()
        let grouped = weights.withUnsafeBytes { ChunkCodec().encode($0, dtype: .bf16) }.count
        let plain = weights.withUnsafeBytes { ChunkCodec().encode($0, dtype: .u8) }.count
        XCTAssertLessThan(grouped, plain)
        XCTAssertLessThan(Double(grouped) / Double(weights.count), 0.8)
    }

    /// An F32 chunk's exponent plane is coded close to its order-0 entropy (the bound for any
    /// per-chunk Huffman coder): zstd's match finder must not spend bits on spurious matches.
    /// Seeded normal weights as f32, 1M elements; the bound stores the mantissa planes raw.
    /// (BF16 has its own coder, see BF16ContextCoderTests.)
    func testExponentPlaneIsCodedNearItsEntropy() {
        var rng = SeededGenerator(seed: 12)
        let n = 1 << 20
        let values = (0..<n).map { _ -> Float in
            let u = Float.random(in: Float.leastNormalMagnitude...1, using: &rng), v = Float.random(in: 0...1, using: &rng)
            return 0.02 * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let bytes = TensorView(name: "w", shape: [n], float32: values, as: .f32).copyBytes()
        var counts = [Int](repeating: 0, count: 256)
        for i in 0..<n {
            let v = values[i].bitPattern
            counts[Int((v << 1 | v >> 31) >> 24)] += 1  // the exponent byte after the sign rotation
        }
        let exponentBits = counts.reduce(0.0) { $0 + ($1 == 0 ? 0 : -Double($1) * log2(Double($1) / Double(n))) }
        let bound = exponentBits / 8 + 3 * Double(n)  // exponent plane at its entropy + raw mantissa planes
        for level: Int32 in [1, 3, 9] {
            let encoded = bytes.withUnsafeBytes { ChunkCodec(level: level).encode($0, dtype: .f32) }.count
            XCTAssertLessThan(Double(encoded), bound * 1.01, "level \(level): \(encoded) bytes vs entropy bound \(Int(bound))")
        }
    }

    func testCorruptChunksThrow() {
        var out = [UInt8](repeating: 0, count: 64)
        for bad: [UInt8] in [[], [2, 2, 0, 0, 64, 0, 0, 0, 1, 9, 0, 0, 0, 9], [7, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 200, 0, 0, 0]] {
            XCTAssertThrowsError(try bad.withUnsafeBytes { b in try out.withUnsafeMutableBytes { try ChunkCodec.decode(b, into: $0) } })
        }
    }

}

