import Foundation
import RecallMerge

/// A row of `models`: a checkpoint the registry knows (base, task model, merge result, import).
public struct ModelRecord: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable { case base, task, merged, imported }
    public let id: Int
    public let kind: Kind
    public let name: String
    public let task: String?
    public let sourcePath: String?
    public let format: ModelFormat
    public let contentHash: String
    public let architecture: String
    public let parentID: Int?
    public let rawBytes: Int
    public let storedBytes: Int
    /// Uncompressed bytes of the chunks its put added (PutStats.uniqueBytes); nil when it was
    /// stored before migration 004 recorded them.
    public let uniqueBytes: Int?
    public let createdAt: String

    init(row: SQLRow) throws {
        let r = RowReader(row, table: "models")
        id = try r.int("id")
        kind = try r.value("kind")
        name = try r.text("name")
        task = row["task"].text
        sourcePath = row["source_path"].text
        format = try r.value("format")
        contentHash = try r.text("content_hash")
        architecture = try r.text("architecture")
        parentID = try r.optionalInt("parent_id")
        rawBytes = try r.int("raw_bytes")
        storedBytes = try r.int("stored_bytes")
        uniqueBytes = try r.optionalInt("unique_bytes")
        createdAt = try r.text("created_at")
    }
}

/// A row of `versions`: one state of the evolving model.
public struct VersionRecord: Equatable, Sendable {
    public let number: Int
    public let modelID: Int
    public let parentVersion: Int?
    public let task: String?
    public let method: MergeMethodName
    public let optionsJSON: String
    public let message: String
    public let gated: Bool
    public let gateReason: String?
    public let createdAt: String

    init(row: SQLRow) throws {
        let r = RowReader(row, table: "versions", key: "number")
        number = try r.int("number")
        modelID = try r.int("model_id")
        parentVersion = try r.optionalInt("parent_version")
        task = row["task"].text
        method = try r.value("method")
        optionsJSON = try r.text("options_json")
        message = try r.text("message")
        gated = try r.int("gated") != 0
        gateReason = row["gate_reason"].text
        createdAt = try r.text("created_at")
    }
}

/// What a model was to a merge (`merge_inputs.role`): the base it anchored on, an expert of the
/// experts scenario, the head of the sequential one, or the model this register brought.
public enum InputRole: String, Sendable, CaseIterable { case base, expert, head, new }

/// What a merge recorded about one version (the store keeps the merge report in these rows).
public struct VersionDetail: Sendable {
    public var inputs: [(modelID: Int, role: InputRole)] = []
    public var layerWeights: [(layer: Int, modelID: Int, weight: Double)] = []
    public var similarities: [(layer: Int, modelA: Int, modelB: Int, value: Double, sigma: Double?)] = []
    public init() {}
}
