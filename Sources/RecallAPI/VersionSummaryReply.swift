/// One row of `GET /v1/versions` (schema `VersionSummary`), as the daemon encodes it and
/// recallctl decodes it. Nil fields are sent as `null`, never left out: every key the schema
/// requires is always there.
public struct VersionSummaryReply: Codable, Equatable, Sendable {
    public var version: Int
    /// Nil for version 1 (the base).
    public var parent: Int?
    /// The task this version registered; nil for the base.
    public var task: String?
    /// Merge method; `base` for version 1.
    public var method: String
    /// UTC timestamp, e.g. 2025-01-31T12:00:00.000Z.
    public var createdAt: String
    /// Head points at this version.
    public var head: Bool
    public var gated: Bool
    public var gateReason: String?
    public var tags: [String]
    /// The stored model of this version.
    public var modelID: Int

    public init(version: Int, parent: Int?, task: String?, method: String, createdAt: String, head: Bool,
                gated: Bool, gateReason: String?, tags: [String], modelID: Int) {
        self.version = version
        self.parent = parent
        self.task = task
        self.method = method
        self.createdAt = createdAt
        self.head = head
        self.gated = gated
        self.gateReason = gateReason
        self.tags = tags
        self.modelID = modelID
    }

    enum CodingKeys: String, CodingKey {
        case version, parent, task, method, createdAt = "created_at", head, gated, gateReason = "gate_reason", tags, modelID = "model_id"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(parent, forKey: .parent)
        try c.encode(task, forKey: .task)
        try c.encode(method, forKey: .method)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(head, forKey: .head)
        try c.encode(gated, forKey: .gated)
        try c.encode(gateReason, forKey: .gateReason)
        try c.encode(tags, forKey: .tags)
        try c.encode(modelID, forKey: .modelID)
    }
}
