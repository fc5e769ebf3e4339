import Foundation
import RecallTensor

/// The registry's memory: weights in the LMDB blob store, provenance in SQLite, under one home.
///
/// Layout of `$RECALL_HOME` (default `~/.recall`):
/// ```
/// store/            LMDB environment (chunks, manifests, representation cache) + gc.lock
/// registry.sqlite   provenance (WAL)
/// ```
/// Order of a write: chunks and manifest commit in LMDB first, then one SQLite transaction makes
/// the model/version visible. A crash in between leaves only unreferenced blobs for `gc`.
public final class RegistryStore: @unchecked Sendable {
    public let home: URL
    public let blobs: BlobStore
    public let provenance: ProvenanceStore

    /// `RECALL_HOME`, else `~/.recall`.
    public static var defaultHome: URL {
        if let h = ProcessInfo.processInfo.environment["RECALL_HOME"], !h.isEmpty { return URL(fileURLWithPath: h) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".recall")
    }

    /// `batchBytes`: how many raw bytes of new chunks a put commits per LMDB transaction (`BlobStore`).
    public init(home: URL, compressionLevel: Int32 = 1, initialMapSize: Int = 1 << 30, batchBytes: Int = 64 << 20) throws {
        self.home = home
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let sqlite = home.appendingPathComponent("registry.sqlite")
        let hadProvenance = FileManager.default.fileExists(atPath: sqlite.path)
        let data = home.appendingPathComponent("store").appendingPathComponent("data.mdb")
        // The converse: provenance of models whose weights are gone (a lost store/data.mdb). LMDB
        // would create an empty one and every version would fail to read, so refuse before that.
        if hadProvenance, !FileManager.default.fileExists(atPath: data.path), case let recorded = try ProvenanceStore(path: sqlite).models().count, recorded > 0 {
            throw RecallError(.notFound, "\(data.path) is missing but \(sqlite.path) records \(recorded) model(s); restore store/ from a backup, or move registry.sqlite away to start a new registry")
        }
        blobs = try BlobStore(directory: home.appendingPathComponent("store"), level: compressionLevel, batchBytes: batchBytes,
                              initialMapSize: initialMapSize)
        // Stored weights without their provenance: a lost or moved registry.sqlite. Starting a new,
        // empty registry here would let the next gc delete every model, so refuse instead.
        if !hadProvenance, case let stored = try blobs.manifestHashes().count, stored > 0 {
            throw RecallError(.notFound, "\(sqlite.path) is missing but \(home.appendingPathComponent("store").path) holds \(stored) stored model(s); restore registry.sqlite from a backup, or move store/ away to start a new registry")
        }
        provenance = try ProvenanceStore(path: sqlite)
    }

    /// `BlobStore.verify` (every manifest's chunks present and intact) plus the other direction:
    /// every model the provenance records has its manifest. A store whose LMDB files were lost
    /// is not clean just because it holds no manifests to check.
    public func verify() throws -> VerifyReport {
        var report = try blobs.verify()
        for model in try provenance.models() where try !blobs.contains(model.contentHash) {
            report.missing.append("model \(model.id) (\(model.name)): manifest \(model.contentHash.prefix(12)) is absent from the store")
        }
        return report
    }

    /// Stores a checkpoint's weights and side files and records the model (idempotent by content).
    public func putModel(_ checkpoint: Checkpoint, kind: ModelRecord.Kind, name: String, task: String? = nil,
                         format: ModelFormat? = nil, parentID: Int? = nil) throws -> (model: ModelRecord, stats: PutStats, created: Bool) {
        var files = checkpoint.sidecarFiles
        if let c = checkpoint.configURL { files.insert(c, at: 0) }
        return try putModel(checkpoint.weights, files: files, kind: kind, name: name, task: task,
                            sourcePath: checkpoint.url.path, format: format ?? ModelFormat(checkpoint.layout),
                            architecture: (try? checkpoint.modelConfig().summary) ?? "", parentID: parentID)
    }

    /// Stores any tensor source (a merge result, an import) and records it.
    public func putModel(_ source: TensorSource, files: [URL] = [], kind: ModelRecord.Kind, name: String, task: String?,
                         sourcePath: String?, format: ModelFormat, architecture: String,
                         parentID: Int? = nil) throws -> (model: ModelRecord, stats: PutStats, created: Bool) {
        let stored = try storeModel(source, files: try files.map(SideFile.init(contentsOf:)), kind: kind, name: name, task: task,
                                    sourcePath: sourcePath, format: format, architecture: architecture, parentID: parentID)
        return (stored.record, stored.stats, stored.created)
    }

    /// What `storeModel` wrote: the model's record and its stored weights, ready to read.
    public struct StoredModel {
        public let record: ModelRecord
        public let checkpoint: StoredCheckpoint
        public let stats: PutStats
        /// False when identical content was already recorded (the record is that model's).
        public let created: Bool
    }

    /// `putModel` with the side files' bytes in hand; returns the checkpoint it wrote, so a
    /// caller that reads the weights next (a merge input, an evaluation) does not load them again.
    public func storeModel(_ source: TensorSource, files: [SideFile] = [], kind: ModelRecord.Kind, name: String, task: String?,
                           sourcePath: String?, format: ModelFormat, architecture: String, parentID: Int? = nil) throws -> StoredModel {
        do {
            return try storeModelLocked(source, files: files, kind: kind, name: name, task: task, sourcePath: sourcePath,
                                        format: format, architecture: architecture, parentID: parentID)
        } catch {
            // A failed put (a NaN found mid-model, a full disk) gives back the chunks it committed.
            _ = try? blobs.discardAbandonedChunks()
            throw error
        }
    }

    private func storeModelLocked(_ source: TensorSource, files: [SideFile], kind: ModelRecord.Kind, name: String, task: String?,
                                  sourcePath: String?, format: ModelFormat, architecture: String, parentID: Int?) throws -> StoredModel {
        try blobs.withSharedLock {
            let (checkpoint, stats) = try blobs.putCheckpoint(source, files: files)
            let (record, created) = try provenance.insertModel(kind: kind, name: name, task: task, sourcePath: sourcePath,
                                                               format: format, contentHash: checkpoint.hash, architecture: architecture,
                                                               parentID: parentID, rawBytes: stats.rawBytes, storedBytes: stats.storedBytes,
                                                               uniqueBytes: stats.uniqueBytes)
            return StoredModel(record: record, checkpoint: checkpoint, stats: stats, created: created)
        }
    }

    /// Removes manifests no model record knows (left by an interrupted register) and every
    /// chunk nothing references. Safe while registers run: puts hold the shared lock.
    public func gc() throws -> GCReport {
        try blobs.gc { try self.provenance.referencedModelHashes() }
    }

    /// The stored weights of a model.
    public func checkpoint(of model: ModelRecord) throws -> StoredCheckpoint { try blobs.checkpoint(model.contentHash) }

    /// The stored weights of a version (number, tag or `head`).
    public func checkpoint(version ref: String) throws -> (version: VersionRecord, checkpoint: StoredCheckpoint) {
        let n = try provenance.resolve(ref)
        guard let v = try provenance.version(n), let m = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "no version \(ref); list the versions with history")
        }
        return (v, try blobs.checkpoint(m.contentHash))
    }

    /// Exports a version as an HF directory (config and tokenizer files from the store).
    /// Refuses a non-empty `directory` unless `force`; writes nothing when the version is unknown.
    public func export(version ref: String, to directory: URL, dtype: DType? = nil, maxShardBytes: Int? = nil,
                       force: Bool = false) throws {
        let (_, ckpt) = try checkpoint(version: ref)
        let fm = FileManager.default
        if let contents = try? fm.contentsOfDirectory(atPath: directory.path), !contents.isEmpty, !force {
            throw RecallError(.invalidArgument, "\(directory.path): is not empty; pass --force to overwrite or choose another directory")
        }
        let config = try ckpt.fileNames.contains("config.json")
            ? JSONValue.parse(try ckpt.file(named: "config.json"), rejectDuplicateKeys: false) : nil
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let staging = directory.appendingPathComponent(".recall-export-files")
        let sidecars = try ckpt.writeFiles(to: staging).filter { $0.lastPathComponent != "config.json" }
        defer { try? fm.removeItem(at: staging) }
        // Prefetch: the next tensor is decoded and verified on another core while this one is
        // written (a stored checkpoint's tensors can be read from any thread).
        try CheckpointWriter(dtype: dtype, maxShardBytes: maxShardBytes, metadata: ["recall.version": ref, "recall.model": ckpt.hash],
                             prefetch: true)
            .write(ckpt, configJSON: config, sidecars: sidecars, to: directory)
    }
}
