import Dispatch
import Foundation
import RecallTensor

/// The new chunks of a put, encoded and committed behind the caller: while one batch is
/// compressed (over all cores) and written in its own LMDB transaction, the caller goes on
/// hashing the next. At most one batch is in flight, so memory stays at two batches.
///
/// A put used to hash, then encode, then write each batch in turn; at 7B the write alone
/// (the kernel copying LMDB's pages into the page cache) was as long as the encoding, and
/// the two now overlap.
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
    private let queue = DispatchQueue(label: "recall.chunk-pipeline")
    private let group = DispatchGroup()
    /// Keys of the batch in flight: stored for dedup purposes although not yet committed.
    private(set) var inFlightKeys = Set<[UInt8]>()
    /// Compressed bytes of every batch committed so far (new chunks only).
    private(set) var storedBytes = 0
    /// The batch in flight's outcome.
    private let inFlightResult = ResultBox()

    init(env: LMDBEnvironment, codec: ChunkCodec) {
        self.env = env
        self.codec = codec
    }

    /// Waits for the batch in flight (rethrowing its error), then starts `batch` behind the caller.
    func submit(_ batch: [Chunk]) throws {
        try wait()
        guard !batch.isEmpty else { return }
        inFlightKeys = Set(batch.map(\.key))
        let work = Batch(chunks: batch, env: env, codec: codec, result: inFlightResult)
        group.enter()
        queue.async { [group] in
            work.run()
            group.leave()
        }
    }

    /// Waits until nothing is in flight; rethrows the last batch's error.
    func wait() throws {
        group.wait()
        inFlightKeys.removeAll()
        let result = inFlightResult.take()
        storedBytes += result.storedBytes
        if let error = result.error { throw error }
    }

    /// The batch's outcome, handed back to the caller's thread after `group.wait()` (which orders
    /// the write before the read).
    private final class ResultBox: @unchecked Sendable {
        private var storedBytes = 0
        private var error: Error?
        func set(storedBytes: Int, error: Error?) { self.storedBytes = storedBytes; self.error = error }
        func take() -> (storedBytes: Int, error: Error?) {
            defer { storedBytes = 0; error = nil }
            return (storedBytes, error)
        }
    }

    /// One batch's work, sent to the pipeline's queue: the chunk bytes it points at stay alive
    /// through `owner` and the caller does not touch them until `wait()` returns.
    private struct Batch: @unchecked Sendable {
        let chunks: [Chunk]
        let env: LMDBEnvironment
        let codec: ChunkCodec
        let result: ResultBox

        func run() {
            var encoded = [[UInt8]](repeating: [], count: chunks.count)
            encoded.withUnsafeMutableBufferPointer { out in
                Parallel.forEach(count: chunks.count) { i in out[i] = codec.encode(chunks[i].bytes, dtype: chunks[i].dtype) }
            }
            do {
                try env.write { txn in
                    var added = 0
                    for (i, c) in chunks.enumerated() where try !txn.contains("chunks", c.key) {
                        try txn.put("chunks", c.key, encoded[i])
                        added += encoded[i].count
                    }
                    try BlobStore.addChunkBytes(added, in: txn)
                }
                result.set(storedBytes: encoded.reduce(0) { $0 + $1.count }, error: nil)
            } catch {
                result.set(storedBytes: 0, error: error)
            }
        }
    }
}
