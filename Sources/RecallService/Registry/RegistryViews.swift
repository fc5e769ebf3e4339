import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// The API's answers for history and status as RecallAPI reply types: built here, next to the
/// store, so the daemon's routes stay thin and the shapes are tested once.
extension Registry {
    /// `GET /v1/versions`: every version, oldest first.
    public func history() throws -> [VersionSummaryReply] {
        let head = try provenance.head()
        let tags = try provenance.tags()
        return try provenance.versions().map { v in
            VersionSummaryReply(version: v.number, parent: v.parentVersion, task: v.task, method: v.method.rawValue,
                                createdAt: v.createdAt, head: v.number == head, gated: v.gated, gateReason: v.gateReason,
                                tags: tags.filter { $0.version == v.number }.map(\.name), modelID: v.modelID)
        }
    }

    /// `GET /v1/status`; `hidingPaths` (over TCP) leaves out the home directory.
    public func status(hidingPaths: Bool = false) throws -> StatusReply {
        let settings = try provenance.settings()
        let counts = try provenance.jobCounts()
        let chunks = try store.blobs.chunkStatistics()
        let totals = try provenance.totals()
        return StatusReply(
            version: RecallVersion.string, home: hidingPaths ? nil : store.home.path, initialised: settings != nil, settings: settings.map(SettingsReply.init),
            head: try provenance.head(), versions: totals.versions, models: totals.models,
            jobs: .init(queued: counts[.queued] ?? 0, running: counts[.running] ?? 0, succeeded: counts[.succeeded] ?? 0, failed: counts[.failed] ?? 0),
            runningJob: runningJob?.id,
            // Unique bytes are nil when a model was stored before they were recorded (the sum would lie).
            store: .init(chunks: chunks.count, storedBytes: chunks.storedBytes, logicalBytes: totals.modelRawBytes,
                         uniqueBytes: totals.modelUniqueBytes))
    }
}

extension SettingsReply {
    /// The settings as `GET /v1/status` shows them.
    public init(_ s: RegistrySettings) {
        self.init(baseModelID: s.baseModelID, method: s.method.rawValue, scenario: s.scenario.rawValue, options: s.options,
                  gatePoints: s.gatePoints, evalMetric: s.evalMetric.rawValue)
    }
}
