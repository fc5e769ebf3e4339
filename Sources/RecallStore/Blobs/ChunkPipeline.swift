import Dispatch
import Foundation
import RecallTensor

/// The new chunks of a put, encoded and committed behind the caller in two stages: while the
/// caller hashes batch k+2, batch k+1 is compressed (over all cores) and batch k is written in
/// its own LMDB transaction. Each stage holds at most one batch, so memory stays at a few batches.
///
/// Why two stages: profiling a 2.9 GB init showed the write (the kernel copying LMDB's pages
/// into fresh page-cache pages, ~100 MB/s on this VM) and the encoding were both ~20 s, and
/// with one stage they ran one after the other on the same thread. Now they overlap.
final class ChunkPipeline {
    /// One new chunk: its key (SHA-256), dtype, and bytes kept alive by `owner`.
    struct Chunk {
        let key: [UInt8]
        let dtype: DType
        let bytes: UnsafeRawBufferPointer
        let owner: TensorView
    }

    private let env: LMDBEnvironment
    private let codec: ChunkCodec
    private let encodeQueue = DispatchQueue(label: "recall.chunk-pipeline.encode")
    private let writeQueue = DispatchQueue(label: "recall.chunk-pipeline.write")
    /// Free while no batch is being encoded; taken by `submit`, given back once the encoded batch
    /// is handed to the writer.
    private let encodeSlot = DispatchSemaphore(value: 1)
    /// Free while no batch is being written; taken by the encoder before it hands a batch over.
    private let writeSlot = DispatchSemaphore(value: 1)
    private let group = DispatchGroup()
    private let outcome = Outcome()
    /// Keys of every batch submitted since the last `wait()`: stored or on their way, so a put
    /// counts them as present (32 bytes per chunk, a few thousand at 7B).
    private(set) var inFlightKeys = Set<[UInt8]>()
    /// Compressed bytes of every batch committed so far (new chunks only).
    private(set) var storedBytes = 0

    /// Drop a file-mapped input's pages from the page cache once its chunks are committed
    /// (`BlobStore.evictInputBytes`).
    private let evictInput: Bool

    init(env: LMDBEnvironment, codec: ChunkCodec, evictInput: Bool = false) {
        self.env = env
        self.codec = codec
        self.evictInput = evictInput
    }

    /// Starts `batch` behind the caller once the encoder is free; rethrows an earlier batch's error.
    func submit(_ batch: [Chunk]) throws {
        if outcome.firstError != nil { try wait() }   // throws that error
        guard !batch.isEmpty else { return }
        for chunk in batch { inFlightKeys.insert(chunk.key) }
        encodeSlot.wait()
        let work = Batch(chunks: batch, env: env, codec: codec, outcome: outcome, evictInput: evictInput)
        group.enter()
        encodeQueue.async { [encodeSlot, writeSlot, writeQueue, group] in
            let encoded = work.encode()
            writeSlot.wait()
            encodeSlot.signal()
            writeQueue.async {
                work.write(encoded)
                writeSlot.signal()
                group.leave()
            }
        }
    }

    /// Waits until nothing is in flight; rethrows the first error of any batch.
    func wait() throws {
        group.wait()
        inFlightKeys.removeAll()
        let (bytes, error) = outcome.take()
        storedBytes += bytes
        if let error { throw error }
    }

    /// What the batches did, shared by the writer and the caller under a lock.
    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var storedBytes = 0
        private var error: Error?
        var firstError: Error? { lock.withLock { error } }
        func add(storedBytes: Int) { lock.withLock { self.storedBytes += storedBytes } }
        func fail(_ error: Error) { lock.withLock { if self.error == nil { self.error = error } } }
        func take() -> (storedBytes: Int, error: Error?) {
            lock.withLock {
                defer { storedBytes = 0; error = nil }
                return (storedBytes, error)
            }
        }
    }

    /// One batch's work, sent to the pipeline's queues: the chunk bytes it points at stay alive
    /// through `owner` and the caller does not touch them until `wait()` returns.
    private struct Batch: @unchecked Sendable {
        let chunks: [Chunk]
        let env: LMDBEnvironment
        let codec: ChunkCodec
        let outcome: Outcome
        let evictInput: Bool

        func encode() -> [[UInt8]] {
            // After a failure, later batches are not worth the cores.
            if outcome.firstError != nil { return [] }
            var encoded = [[UInt8]](repeating: [], count: chunks.count)
            encoded.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(count: chunks.count) { i in out[i] = codec.encode(chunks[i].bytes, dtype: chunks[i].dtype) }
            }
            return encoded
        }

        func write(_ encoded: [[UInt8]]) {
            guard outcome.firstError == nil, encoded.count == chunks.count else { return }
            do {
                // Each value takes its own overflow pages: one page of slack per chunk.
                let appending = encoded.reduce(0) { $0 + $1.count } + chunks.count * 4096
                try env.write(appending: appending) { txn in
                    var added = 0
                    for (i, c) in chunks.enumerated() where try !txn.contains("chunks", c.key) {
                        try txn.put("chunks", c.key, encoded[i])
                        added += encoded[i].count
                    }
                    try BlobStore.addChunkBytes(added, in: txn)
                }
                outcome.add(storedBytes: encoded.reduce(0) { $0 + $1.count })
                // Committed: an input file's pages of these chunks are not read again.
                if evictInput { for c in chunks { c.owner.evictMappedPages(c.bytes) } }
            } catch {
                outcome.fail(error)
            }
        }
    }
}
