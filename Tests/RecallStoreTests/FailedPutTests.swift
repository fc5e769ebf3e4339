import XCTest
@testable import RecallTensor
@testable import RecallStore
import RecallTestSupport

/// A put that meets a NaN scans it as it encodes (no separate pass), fails naming the tensor
/// and element, and leaves the store as it was: the chunks its earlier batches committed are
/// given back, except those another manifest came to reference meanwhile.
final class FailedPutTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTempDirectory(self) }

    typealias MemorySource = BlobStoreTests.MemorySource

    /// Small chunks and batches, so several batches are committed before the NaN's batch.
    func makeStore() throws -> BlobStore { try BlobStore(directory: dir, chunkBytes: 1024, batchBytes: 4096) }

    func tensor(_ name: String, seed: UInt64, count: Int = 4096, dtype: DType = .bf16, nanAt: Int? = nil) -> TensorView {
        var rng = SeededGenerator(seed: seed)
        var values = (0..<count).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        if let nanAt { values[nanAt] = .nan }
        return TensorView(name: name, shape: [count / 64, 64], float32: values, as: dtype)
    }

    func assertSameTensors(_ a: TensorSource, _ b: TensorSource, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.infos.map(\.name).sorted(), b.infos.map(\.name).sorted(), file: file, line: line)
        for info in a.infos {
            XCTAssertEqual(try a.tensor(named: info.name).copyBytes(), try b.tensor(named: info.name).copyBytes(), info.name, file: file, line: line)
        }
    }

    /// What must not change: every chunk key with its stored bytes, the manifests, the running total.
    func contents(_ store: BlobStore) throws -> (chunks: [String: Int], manifests: [String], total: Int) {
        var chunks: [String: Int] = [:]
        try store.env.read { txn in try txn.forEach("chunks") { k, v in chunks[Hex.encode(k)] = v.count; return true } }
        return (chunks, try store.manifestHashes().sorted(), try store.chunkStatistics().storedBytes)
    }

    func testANaNFailsThePutAndLeavesTheStoreAsItWas() throws {
        let store = try makeStore()
        let a = MemorySource([tensor("a.0", seed: 1), tensor("a.1", seed: 2, dtype: .f32)])
        let (aHash, _) = try store.put(a)
        let before = try contents(store)

        // a.0 again (deduplicated), then new tensors over several batches, then the NaN, then more.
        for dtype in [DType.bf16, .f16, .f32] {
            let bad = MemorySource([tensor("a.0", seed: 1), tensor("b.1", seed: 3), tensor("b.2", seed: 4, dtype: .f32),
                                    tensor("b.3", seed: 5, count: 8192, dtype: dtype, nanAt: 6000), tensor("b.4", seed: 6)])
            XCTAssertThrowsError(try store.put(bad)) { error in
                XCTAssertEqual(error as? NonFiniteTensorError, NonFiniteTensorError(tensor: "b.3", element: 6000), "\(dtype): \(error)")
            }
            let after = try contents(store)
            XCTAssertEqual(after.chunks, before.chunks, "\(dtype): the failed put's chunks are gone, the others untouched")
            XCTAssertEqual(after.manifests, before.manifests)
            XCTAssertEqual(after.total, before.total, "\(dtype): the running total of stored bytes is back")
            XCTAssertFalse(store.hasAbandonedChunks)
        }
        let report = try store.verify()
        XCTAssertTrue(report.isClean)
        XCTAssertEqual(report.unreferencedChunks, 0)
        try assertSameTensors(a, try store.checkpoint(aHash))
    }

    func testAnInfinityIsCaughtToo() throws {
        let store = try makeStore()
        var values = [Float](repeating: 0.01, count: 4096)
        values[4095] = -.infinity
        let source = MemorySource([TensorView(name: "c.0", shape: [64, 64], float32: values, as: .f32)])
        XCTAssertThrowsError(try store.put(source)) { XCTAssertEqual($0 as? NonFiniteTensorError, NonFiniteTensorError(tensor: "c.0", element: 4095)) }
        XCTAssertEqual(try contents(store).chunks, [:])
    }

    /// A chunk a failed put committed that a later put then deduplicated against belongs to that
    /// put's manifest: discarding the failed put's chunks must keep it.
    func testDiscardKeepsChunksAnotherManifestNowReferences() throws {
        let store = try makeStore()
        let bad = MemorySource([tensor("d.0", seed: 8), tensor("d.1", seed: 9), tensor("d.2", seed: 10, nanAt: 4000)])
        // putCheckpoint leaves the discard to its caller (it may run under the caller's lock).
        XCTAssertThrowsError(try store.putCheckpoint(bad, files: []))
        XCTAssertTrue(store.hasAbandonedChunks)
        let good = MemorySource([tensor("d.0", seed: 8), tensor("e.1", seed: 11)])
        let (hash, stats) = try store.put(good)
        XCTAssertGreaterThan(stats.deduplicatedChunks, 0, "d.0's chunks were committed by the failed put")
        let removed = try store.discardAbandonedChunks()
        XCTAssertGreaterThan(removed, 0, "d.1 and d.2's committed chunks go")
        XCTAssertFalse(store.hasAbandonedChunks)
        let report = try store.verify()
        XCTAssertTrue(report.isClean, "\(report.missing)")
        XCTAssertEqual(report.unreferencedChunks, 0)
        try assertSameTensors(good, try store.checkpoint(hash))
    }

    /// The registry's own path: `storeModel` holds the shared lock around put + SQLite record, so
    /// it discards the failed put's chunks after releasing it. No model row, no chunk left.
    func testRegistryStoreModelGivesTheChunksBack() throws {
        let store = try RegistryStore(home: dir.appendingPathComponent("home"), batchBytes: 4096)
        let good = MemorySource([tensor("w.0", seed: 12), tensor("w.1", seed: 13)])
        _ = try store.storeModel(good, kind: .base, name: "base", task: nil, sourcePath: nil, format: .file, architecture: "")
        let before = try contents(store.blobs)
        let bad = MemorySource([tensor("w.0", seed: 14), tensor("w.1", seed: 15), tensor("w.2", seed: 16, nanAt: 4095)])
        XCTAssertThrowsError(try store.storeModel(bad, kind: .task, name: "bad", task: "t", sourcePath: nil, format: .file, architecture: "")) {
            XCTAssertEqual($0 as? NonFiniteTensorError, NonFiniteTensorError(tensor: "w.2", element: 4095))
        }
        XCTAssertEqual(try store.provenance.models().count, 1)
        let after = try contents(store.blobs)
        XCTAssertEqual(after.chunks.count, before.chunks.count, "the failed put committed w.0 and w.1's chunks first; they are gone")
        XCTAssertEqual(after.chunks, before.chunks)
        XCTAssertEqual(after.total, before.total)
        XCTAssertEqual(try store.verify().unreferencedChunks, 0)
    }
}
