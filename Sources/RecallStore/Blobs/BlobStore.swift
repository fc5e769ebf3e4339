import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RecallTensor

/// Statistics of one `put`.
public struct PutStats: Equatable, Sendable {
    public var rawBytes = 0
    /// Compressed bytes of the chunks this put added (0 when everything was already stored).
    public var storedBytes = 0
    /// Uncompressed bytes of the chunks this put added: `rawBytes` after deduplication, before
    /// compression (so raw / unique is what deduplication saved, unique / stored what compression did).
    public var uniqueBytes = 0
    public var newChunks = 0
    public var deduplicatedChunks = 0
    /// Tensors taken over from a stored manifest without reading or hashing them.
    public var reusedTensors = 0
}

/// What `verify` found.
public struct VerifyReport: Equatable, Sendable {
    public var manifests = 0
    public var chunksChecked = 0
    /// "model/tensor: chunk <hash>" for each referenced chunk that is absent.
    public var missing: [String] = []
    /// The same for chunks whose bytes no longer match their hash or do not decode.
    public var corrupt: [String] = []
    /// Chunks no manifest references (left by an interrupted put; `gc` removes them).
    public var unreferencedChunks = 0
    public var isClean: Bool { missing.isEmpty && corrupt.isEmpty }
}

public struct GCReport: Equatable, Sendable {
    public var removedManifests = 0
    public var removedChunks = 0
    public var removedBytes = 0
    public var keptChunks = 0
    /// Cached representations and activation statistics of models no manifest holds any more.
    public var removedCacheEntries = 0
}

/// Content-addressed tensor storage in LMDB.
///
/// Tensors are cut into chunks of at most `chunkBytes` (whole elements), each stored once under
/// the SHA-256 of its raw bytes, encoded by `ChunkCodec`. A checkpoint's `Manifest` lists its
/// chunks and is stored under the checkpoint's content hash.
///
/// Crash safety: a put commits chunks first and the manifest last, so a crash leaves at most
/// unreferenced chunks (reported by `verify`, removed by `gc`), never a manifest with holes.
/// `gc` and `put` exclude each other through an advisory lock file (`put` shared, `gc`
/// exclusive), which also holds across processes sharing the store.
public final class BlobStore: ChunkStore, @unchecked Sendable {
    public let env: LMDBEnvironment
    public let codec: ChunkCodec
    public let chunkBytes: Int
    /// Raw bytes of new chunks a put gathers before they are compressed and written as one
    /// LMDB transaction (behind the put, while it hashes the next batch).
    public let batchBytes: Int
    /// A put of a file-mapped model at least this large drops the file's pages from the page
    /// cache as its chunks are stored (`MappedFile.evict`): at 7B the model is half the memory,
    /// and the store's new pages then reuse the freed ones instead of pages the VM's host has
    /// taken back (BENCHMARKS.md). Smaller models stay cached for the forward passes that follow.
    public let evictInputBytes: Int
    let lockPath: String
    /// Chunks committed by puts that then failed, waiting for `discardAbandonedChunks`.
    private var abandonedChunks = Set<[UInt8]>()
    private let abandonedLock = NSLock()

    /// A quarter of physical memory.
    public static let defaultEvictInputBytes = Int(ProcessInfo.processInfo.physicalMemory / 4)

    public init(directory: URL, level: Int32 = 1, chunkBytes: Int = 4 << 20, batchBytes: Int = 64 << 20,
                initialMapSize: Int = 1 << 30, evictInputBytes: Int = BlobStore.defaultEvictInputBytes) throws {
        env = try LMDBEnvironment(path: directory, initialMapSize: initialMapSize)
        codec = ChunkCodec(level: level)
        self.chunkBytes = chunkBytes
        self.batchBytes = batchBytes
        self.evictInputBytes = evictInputBytes
        lockPath = directory.appendingPathComponent("gc.lock").path
    }

    // MARK: Locking

    func withLock<T>(_ mode: Int32, _ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RecallError(.io, "\(lockPath): cannot open lock file (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        while flock(fd, mode) != 0 {
            if errno != EINTR { throw RecallError(.io, "\(lockPath): cannot lock (\(String(cString: strerror(errno))))") }
        }
        return try body()
    }

    /// Holds the shared side of the gc lock around `body`: a gc cannot sweep while it runs.
    /// Callers that record a put elsewhere (SQLite) wrap put + record in this, so gc never
    /// sees a manifest whose record is still on its way.
    public func withSharedLock<T>(_ body: () throws -> T) throws -> T { try withLock(LOCK_SH, body) }

    static func key(_ hex: String) -> [UInt8] { Hex.decode(hex) }

    // MARK: Put

    /// Stores every tensor of `source` and its manifest; returns the content hash and what it cost.
    /// Storing a checkpoint that is already there adds nothing and returns the same hash.
    /// A failed put leaves the store as it was (`discardAbandonedChunks`); call it outside `withSharedLock`.
    public func put(_ source: TensorSource, files: [URL] = [], metadata: [(String, String)] = []) throws -> (hash: String, stats: PutStats) {
        do {
            let (stored, stats) = try putCheckpoint(source, files: try files.map(SideFile.init(contentsOf:)), metadata: metadata)
            return (stored.hash, stats)
        } catch {
            _ = try? discardAbandonedChunks()   // what it cannot remove now, the next gc does
            throw error
        }
    }

    /// `put` with the side files' bytes in hand, returning the checkpoint it wrote (built from the
    /// manifest it just committed, so a caller that goes on to read the weights need not load it again).
    ///
    /// Every new chunk of a float tensor is scanned for NaN/Inf as it is encoded; the first one
    /// fails the put with `NonFiniteTensorError`. A failed put commits no manifest and hands the
    /// chunks it had committed to `discardAbandonedChunks`, which the caller runs once it holds no
    /// lock of this store (`put` and `RegistryStore.storeModel` do).
    public func putCheckpoint(_ source: TensorSource, files: [SideFile], metadata: [(String, String)] = []) throws -> (checkpoint: StoredCheckpoint, stats: PutStats) {
        try withLock(LOCK_SH) {
            var stats = PutStats()
            var stored: [StoredTensor] = []
            var pending: [ChunkPipeline.Chunk] = []
            var pendingBytes = 0
            var pendingKeys = Set<[UInt8]>()
            // New chunks are compressed and written behind this thread while it hashes the next ones.
            let evictInput = source.totalBytes >= evictInputBytes
            let pipeline = ChunkPipeline(env: env, codec: codec, evictInput: evictInput)
            var committed = false
            defer {
                // A failed put still lets the batch in flight finish with its bytes; what the
                // pipeline added is then given back.
                try? pipeline.wait()
                if !committed { abandon(pipeline.addedKeys) }
            }

            func flush() throws {
                try pipeline.submit(pending)
                pending.removeAll(keepingCapacity: true)
                pendingKeys.removeAll()
                pendingBytes = 0
            }

            func storeTensor(_ view: TensorView) throws -> StoredTensor {
                let info = view.info
                var tensorHash = SHA256()
                var chunkHashes: [String] = []
                let step = max(info.dtype.byteSize, chunkBytes / info.dtype.byteSize * info.dtype.byteSize)
                var offset = 0
                repeat {
                    let end = min(view.bytes.count, offset + step)
                    let piece = UnsafeRawBufferPointer(rebasing: view.bytes[offset..<end])
                    tensorHash.update(bufferPointer: piece)
                    let digest = Array(SHA256.hash(data: piece))
                    chunkHashes.append(Hex.encode(digest))
                    stats.rawBytes += piece.count
                    let exists = try pendingKeys.contains(digest) || pipeline.inFlightKeys.contains(digest)
                        || env.read { try $0.contains("chunks", digest) }
                    if exists {
                        stats.deduplicatedChunks += 1
                        if evictInput { view.evictMappedPages(piece) }   // hashed and already stored: not read again
                    } else {
                        stats.newChunks += 1
                        stats.uniqueBytes += piece.count
                        pending.append(ChunkPipeline.Chunk(key: digest, dtype: info.dtype, bytes: piece, owner: view))
                        pendingKeys.insert(digest)
                        pendingBytes += piece.count
                        if pendingBytes >= batchBytes { try flush() }
                    }
                    offset = end
                } while offset < view.bytes.count
                return StoredTensor(info: info, chunks: chunkHashes, sha256: Hex.encode(Array(tensorHash.finalize())))
            }
            let reuse = source as? StoredTensorReuse
            for info in source.infos {
                if let entry = reuse?.storedTensor(named: info.name, in: self), entry.info == info {
                    // Its chunks are live (a recorded model's) and the shared lock keeps gc out.
                    stored.append(entry)
                    stats.rawBytes += info.byteCount
                    stats.deduplicatedChunks += entry.chunks.count
                    stats.reusedTensors += 1
                    continue
                }
                stored.append(try storeTensor(try source.tensor(named: info.name)))
            }
            var storedFiles: [StoredTensor] = []
            for file in files {
                storedFiles.append(try storeTensor(TensorView(name: file.name, dtype: .u8, shape: [file.bytes.count], copying: [UInt8](file.bytes))))
            }
            try flush()
            try pipeline.wait()
            stats.storedBytes = pipeline.storedBytes
            let manifest = Manifest(tensors: stored, files: storedFiles, metadata: metadata)
            let hash = manifest.contentHash
            let json = Array(manifest.json.serialized().utf8)
            try env.write { txn in
                if try !txn.contains("manifests", Self.key(hash)) { try txn.put("manifests", Self.key(hash), json) }
            }
            committed = true
            return (StoredCheckpoint(store: self, hash: hash, manifest: manifest), stats)
        }
    }

    // MARK: Failed puts

    private func abandon(_ keys: [[UInt8]]) {
        guard !keys.isEmpty else { return }
        abandonedLock.withLock { abandonedChunks.formUnion(keys) }
    }

    /// Whether a failed put left chunks for `discardAbandonedChunks`.
    public var hasAbandonedChunks: Bool { abandonedLock.withLock { !abandonedChunks.isEmpty } }

    /// Removes the chunks failed puts committed that no manifest references (another put may
    /// have stored the same bytes meanwhile), under the exclusive lock, so the store is as it
    /// was before those puts. The caller must hold no lock of this store. Returns how many
    /// chunks it removed. A crash before it runs leaves them to `gc`.
    @discardableResult
    public func discardAbandonedChunks() throws -> Int {
        let keys = abandonedLock.withLock { abandonedChunks }
        guard !keys.isEmpty else { return 0 }
        let removed = try withLock(LOCK_EX) { () -> Int in
            let live = try referencedChunks()
            var count = 0
            try env.write { txn in
                var bytes = 0
                for k in keys where !live.contains(k) {
                    guard let size = try txn.withValue("chunks", k, { $0?.count }) else { continue }
                    bytes += size
                    if try txn.delete("chunks", k) { count += 1 }
                }
                try Self.addChunkBytes(-bytes, in: txn)
            }
            return count
        }
        abandonedLock.withLock { abandonedChunks.subtract(keys) }
        return removed
    }

    // MARK: Get

    public func manifest(_ hash: String) throws -> Manifest? {
        guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else { return nil }
        let raw: [UInt8]? = try env.read { try $0.get("manifests", Self.key(hash)) }
        guard let raw else { return nil }
        return try Manifest(json: JSONValue.parse(Data(raw)))
    }

    public func contains(_ hash: String) throws -> Bool { try manifest(hash) != nil }

    /// Content hashes of every stored checkpoint.
    public func manifestHashes() throws -> [String] {
        try env.read { txn in
            var out: [String] = []
            try txn.forEach("manifests") { k, _ in out.append(Hex.encode(k)); return true }
            return out
        }
    }

    /// A stored checkpoint as a `TensorSource`; tensors are rebuilt (and verified) on demand.
    public func checkpoint(_ hash: String) throws -> StoredCheckpoint {
        guard let m = try manifest(hash) else {
            throw RecallError(.notFound, "store has no checkpoint \(hash.prefix(12)); see the version history for the models it holds")
        }
        return StoredCheckpoint(store: self, hash: hash, manifest: m)
    }

    /// Rebuilds one tensor, checking every chunk's hash and the whole tensor's hash. The chunks
    /// are decoded and checked on every core (`Parallel`), straight from LMDB's map into the
    /// tensor's buffer; the whole-tensor hash, which ties the chunks to the content hash, is one
    /// pass after. Why: an export of the 7B model was bound by the one thread that decoded
    /// (37% of its samples) and hashed (25%) while the writer (22%) waited.
    func rebuild(_ t: StoredTensor, in model: String) throws -> TensorView {
        let storage = TensorStorage(byteCount: t.info.byteCount)
        // Damage found here is the store's, not the request's: `.io`, which the daemon answers 500.
        func damaged(_ c: String, _ what: String) -> RecallError {
            RecallError(.io, "store: chunk \(c.prefix(12)) of tensor \"\(t.info.name)\" (model \(model.prefix(12))) \(what); verify the store (the `verify` command or POST /v1/verify) for the full list")
        }
        let tensorMismatch = RecallError(.io, "store: tensor \"\(t.info.name)\" of model \(model.prefix(12)) does not match its hash; verify the store (the `verify` command or POST /v1/verify) for the full list")
        try env.read { txn in
            // Every chunk's stored bytes (valid while the transaction lives) and where it goes.
            var values: [UnsafeRawBufferPointer] = []
            var offsets: [Int] = []
            var offset = 0
            for c in t.chunks {
                guard let value = try txn.valueForTransaction("chunks", Self.key(c)) else { throw damaged(c, "is missing") }
                guard let n = ChunkCodec.rawLength(of: value), n <= t.info.byteCount - offset else { throw damaged(c, "is corrupt") }
                values.append(value)
                offsets.append(offset)
                offset += n
            }
            guard offset == t.info.byteCount else { throw tensorMismatch }
            var failures = [RecallError?](repeating: nil, count: values.count)
            failures.withUnsafeMutableBufferPointer { failed in
                Parallel.forEach(count: values.count) { i in
                    let end = i + 1 < offsets.count ? offsets[i + 1] : t.info.byteCount
                    let dst = UnsafeMutableRawBufferPointer(rebasing: storage.mutableBytes[offsets[i]..<end])
                    guard let n = try? ChunkCodec.decode(values[i], into: dst), n == dst.count else {
                        failed[i] = damaged(t.chunks[i], "is corrupt"); return
                    }
                    if Hex.encode(Array(SHA256.hash(data: UnsafeRawBufferPointer(dst)))) != t.chunks[i] {
                        failed[i] = damaged(t.chunks[i], "does not match its hash")
                    }
                }
            }
            if let first = failures.compactMap({ $0 }).first { throw first }
        }
        guard Hex.encode(Array(SHA256.hash(data: storage.bytes))) == t.sha256 else { throw tensorMismatch }
        return TensorView(name: t.info.name, dtype: t.info.dtype, shape: t.info.shape, storage: storage)
    }

    // MARK: Verify and GC

    /// Walks every manifest and chunk and reports what is missing or corrupt.
    public func verify() throws -> VerifyReport {
        try withLock(LOCK_SH) {
            var report = VerifyReport()
            var referenced = Set<String>()
            for hash in try manifestHashes() {
                guard let m = try manifest(hash) else { continue }
                report.manifests += 1
                for t in m.tensors + m.files {
                    for c in t.chunks where referenced.insert(c).inserted {
                        report.chunksChecked += 1
                        let status: Int = try env.read { txn in
                            try txn.withValue("chunks", Self.key(c)) { value in
                                guard let value else { return 1 }
                                guard let n = ChunkCodec.rawLength(of: value) else { return 2 }
                                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 64)
                                defer { buf.deallocate() }
                                guard let got = try? ChunkCodec.decode(value, into: buf), got == n else { return 2 }
                                return Hex.encode(Array(SHA256.hash(data: UnsafeRawBufferPointer(rebasing: buf[0..<n])))) == c ? 0 : 2
                            }
                        }
                        if status == 1 { report.missing.append("\(hash.prefix(12))/\(t.info.name): chunk \(c)") }
                        if status == 2 { report.corrupt.append("\(hash.prefix(12))/\(t.info.name): chunk \(c)") }
                    }
                }
            }
            try env.read { txn in
                try txn.forEach("chunks") { k, _ in
                    if !referenced.contains(Hex.encode(k)) { report.unreferencedChunks += 1 }
                    return true
                }
            }
            return report
        }
    }

    /// Mark and sweep under the exclusive lock. When `liveManifests` is given (the registry
    /// passes the hashes its database knows), manifests outside that set are removed first;
    /// they are left by a put whose record never committed. Then every chunk no remaining
    /// manifest references is removed.
    public func gc(liveManifests: (() throws -> Set<String>)? = nil) throws -> GCReport {
        try withLock(LOCK_EX) {
            var report = GCReport()
            if let liveManifests {
                let keep = try liveManifests()
                let drop = try manifestHashes().filter { !keep.contains($0) }
                try env.write { txn in for h in drop { try txn.delete("manifests", Self.key(h)) } }
                report.removedManifests = drop.count
            }
            let live = try referencedChunks()
            report.removedCacheEntries = try dropCachedData(keeping: Set(try manifestHashes()))
            var dead: [([UInt8], Int)] = []
            try env.read { txn in
                try txn.forEach("chunks") { k, v in
                    if live.contains(k) { report.keptChunks += 1 } else { dead.append((k, v.count)) }
                    return true
                }
            }
            try env.write { txn in
                var removed = 0
                for (k, size) in dead where try txn.delete("chunks", k) { removed += size }
                try Self.addChunkBytes(-removed, in: txn)
            }
            report.removedChunks = dead.count
            report.removedBytes = dead.reduce(0) { $0 + $1.1 }
            return report
        }
    }

    /// The key of every chunk some stored manifest references (gc's mark, and what a failed
    /// put's chunks are checked against before they go).
    func referencedChunks() throws -> Set<[UInt8]> {
        var live = Set<[UInt8]>()
        for hash in try manifestHashes() {
            guard let m = try manifest(hash) else { continue }
            for t in m.tensors + m.files { for c in t.chunks { live.insert(Self.key(c)) } }
        }
        return live
    }

    /// Removes a manifest (its chunks become garbage for the next `gc`).
    public func removeManifest(_ hash: String) throws {
        try withLock(LOCK_SH) { try env.write { txn in _ = try txn.delete("manifests", Self.key(hash)) } }
    }

    // MARK: Representation cache

    static func representationKey(model: String, sample: String, layer: Int) -> [UInt8] {
        Array("\(model)/\(sample)/\(layer)".utf8)
    }

    /// Caches a pooled representation (model content hash, sample hash, layer) -> vector.
    public func putRepresentation(model: String, sample: String, layer: Int, _ vector: [Float]) throws {
        try env.write { txn in
            try vector.withUnsafeBytes { try txn.put("reps", Self.representationKey(model: model, sample: sample, layer: layer), $0) }
        }
    }

    public func representation(model: String, sample: String, layer: Int) throws -> [Float]? {
        try env.read { txn in
            try txn.withValue("reps", Self.representationKey(model: model, sample: sample, layer: layer)) { value in
                guard let value else { return nil }
                return [Float](unsafeUninitializedCapacity: value.count / 4) { buf, n in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: value[0..<(value.count / 4 * 4)]))
                    n = value.count / 4
                }
            }
        }
    }
}
