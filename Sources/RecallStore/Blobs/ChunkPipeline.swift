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
    /// Keys this pipeline added to the store (not there before its transaction), as of the last
    /// `wait()`: what a failed put gives back (`BlobStore.discardAbandonedChunks`).
    private(set) var addedKeys: [[UInt8]] = []

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
        let (bytes, added, error) = outcome.take()
        storedBytes += bytes
        addedKeys += added
        if let error { throw error }
    }

    /// What the batches did, shared by the writer and the caller under a lock.
    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var storedBytes = 0
        private var addedKeys: [[UInt8]] = []
        private var error: Error?
        var firstError: Error? { lock.withLock { error } }
        func add(storedBytes: Int, keys: [[UInt8]]) { lock.withLock { self.storedBytes += storedBytes; addedKeys += keys } }
        func fail(_ error: Error) { lock.withLock { if self.error == nil { self.error = error } } }
        func take() -> (storedBytes: Int, addedKeys: [[UInt8]], error: Error?) {
            lock.withLock {
                defer { storedBytes = 0; addedKeys = []; error = nil }
                return (storedBytes, addedKeys, error)
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

        /// Each chunk is scanned for NaN/Inf and then encoded, on every core, while its bytes are
        /// in cache: the one pass over a new chunk's bytes besides its hash. A non-finite chunk
        /// fails the put (`NonFiniteTensorError`, the first one in put order) and its batch is not written.
        func encode() -> [[UInt8]] {
            // After a failure, later batches are not worth the cores.
            if outcome.firstError != nil { return [] }
            var encoded = [[UInt8]](repeating: [], count: chunks.count)
            var nonFinite = [Int](repeating: -1, count: chunks.count)
            encoded.withUnsafeMutableBufferPointer { out in
                nonFinite.withUnsafeMutableBufferPointer { bad in
                    Parallel.forEach(count: chunks.count) { i in
                        if let k = firstNonFiniteIndex(chunks[i].bytes, dtype: chunks[i].dtype) {
                            bad[i] = k
                        } else {
                            out[i] = codec.encode(chunks[i].bytes, dtype: chunks[i].dtype)
                        }
                    }
                }
            }
            if let i = nonFinite.firstIndex(where: { $0 >= 0 }) {
                let c = chunks[i]
                let start = c.owner.bytes.baseAddress.map { c.bytes.baseAddress! - $0 } ?? 0
                outcome.fail(NonFiniteTensorError(tensor: c.owner.name, element: start / c.dtype.byteSize + nonFinite[i]))
                return []
            }
            return encoded
        }

        func write(_ encoded: [[UInt8]]) {
            guard outcome.firstError == nil, encoded.count == chunks.count else { return }
            var keys: [[UInt8]] = []
            do {
                // Each value takes its own overflow pages: one page of slack per chunk.
                let appending = encoded.reduce(0) { $0 + $1.count } + chunks.count * 4096
                try env.write(appending: appending) { txn in
                    var added = 0
                    for (i, c) in chunks.enumerated() where try !txn.contains("chunks", c.key) {
                        try txn.put("chunks", c.key, encoded[i])
                        added += encoded[i].count
                        keys.append(c.key)
                    }
                    try BlobStore.addChunkBytes(added, in: txn)
                }
                outcome.add(storedBytes: encoded.reduce(0) { $0 + $1.count }, keys: keys)
                // Committed: an input file's pages of these chunks are not read again.
                if evictInput { for c in chunks { c.owner.evictMappedPages(c.bytes) } }
            } catch {
                outcome.fail(error)
            }
        }
    }
}
