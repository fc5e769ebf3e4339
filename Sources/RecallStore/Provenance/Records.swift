import Foundation

/// A row of `models`: a checkpoint the registry knows (base, task model, merge result, import).
public struct ModelRecord: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable { case base, task, merged, imported }
    public let id: Int
    public let kind: Kind
    public let name: String
    public let task: String?
    public let sourcePath: String?
    public let format: String
    public let contentHash: String
    public let architecture: String
    public let parentID: Int?
    public let rawBytes: Int
    public let storedBytes: Int
    public let createdAt: String

    init(row: SQLRow) {
        id = row["id"].int ?? 0
        kind = Kind(rawValue: row["kind"].text ?? "") ?? .task
        name = row["name"].text ?? ""
        task = row["task"].text
        sourcePath = row["source_path"].text
        format = row["format"].text ?? ""
        contentHash = row["content_hash"].text ?? ""
        architecture = row["architecture"].text ?? "{}"
        parentID = row["parent_id"].int
        rawBytes = row["raw_bytes"].int ?? 0
        storedBytes = row["stored_bytes"].int ?? 0
        createdAt = row["created_at"].text ?? ""
    }
}

/// A row of `versions`: one state of the evolving model.
public struct VersionRecord: Equatable, Sendable {
    public let number: Int
    public let modelID: Int
    public let parentVersion: Int?
    public let task: String?
    public let method: String
    public let optionsJSON: String
    public let message: String
    public let gated: Bool
    public let gateReason: String?
    public let createdAt: String

    init(row: SQLRow) {
        number = row["number"].int ?? 0
        modelID = row["model_id"].int ?? 0
        parentVersion = row["parent_version"].int
        task = row["task"].text
        method = row["method"].text ?? ""
        optionsJSON = row["options_json"].text ?? "{}"
        message = row["message"].text ?? ""
        gated = (row["gated"].int ?? 0) != 0
        gateReason = row["gate_reason"].text
        createdAt = row["created_at"].text ?? ""
    }
}

/// What a merge recorded about one version (the store keeps the merge report in these rows).
public struct VersionDetail: Sendable {
    public var inputs: [(modelID: Int, role: String)] = []
    public var layerWeights: [(layer: Int, modelID: Int, weight: Double)] = []
    public var similarities: [(layer: Int, modelA: Int, modelB: Int, value: Double, sigma: Double?)] = []
    public init() {}
}
