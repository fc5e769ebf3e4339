import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// The reads (and the store's verify and gc) the daemon's routes, pages and metrics need, so they
/// ask the registry and never reach into its store: the store's layout can change behind these.
extension Registry {
    /// Jobs by state (`queued`, `running`, `succeeded`, `failed`; a state with no job is absent).
    public func jobCounts() throws -> [JobRecord.State: Int] {
        try provenance.jobCounts()
    }

    /// Register jobs waiting for the worker (the daemon refuses more than its limit).
    public func queuedJobCount() throws -> Int {
        try provenance.jobCounts()[.queued] ?? 0
    }

    /// Versions and models recorded and their raw bytes; `modelUniqueBytes` is nil while any
    /// model predates its unique-bytes record.
    public func storeTotals() throws -> (versions: Int, models: Int, modelRawBytes: Int, modelUniqueBytes: Int?) {
        try provenance.totals()
    }

    /// Distinct chunks in the blob store and their compressed bytes.
    public func chunkStatistics() throws -> (count: Int, storedBytes: Int) {
        try store.blobs.chunkStatistics()
    }

    /// The settings `init` recorded; nil before `init`.
    public func recordedSettings() throws -> RegistrySettings? {
        try provenance.settings()
    }

    /// Every stored model (base, task models, merged), oldest first.
    public func storedModels() throws -> [ModelRecord] {
        try provenance.models()
    }

    /// The stored weights and side files of version `ref` (number, tag or `head~N`).
    public func checkpoint(version ref: String) throws -> StoredCheckpoint {
        try store.checkpoint(version: ref).checkpoint
    }

    /// The files an export of version `ref` holds: `model.safetensors`, then the side files by name.
    public func exportFileNames(version ref: String) throws -> [String] {
        ["model.safetensors"] + (try checkpoint(version: ref).fileNames.sorted())
    }

    /// Checks every stored chunk against its hash.
    public func verifyStore() throws -> VerifyReply {
        let report = try store.verify()
        return VerifyReply(clean: report.isClean, manifests: report.manifests, chunksChecked: report.chunksChecked,
                           missing: report.missing, corrupt: report.corrupt, unreferencedChunks: report.unreferencedChunks)
    }

    /// Removes manifests and chunks nothing references (safe while registers run).
    public func collectGarbage() throws -> GCReply {
        let report = try store.gc()
        return GCReply(removedManifests: report.removedManifests, removedChunks: report.removedChunks,
                       removedBytes: report.removedBytes, keptChunks: report.keptChunks)
    }
}
