/// The answers of the admin routes, as the daemon encodes them and recallctl decodes them.
/// Codable with the wire's snake_case names spelled out, so one type is the reply's shape on
/// both sides (docs/openapi.yaml names each schema; a test checks live answers against it).

/// `GET /v1/health` (schema `Health`).
public struct HealthReply: Codable, Equatable, Sendable {
    /// Always `ok`: the daemon answered.
    public var status: String
    /// The daemon's version.
    public var version: String

    public init(status: String = "ok", version: String) {
        self.status = status
        self.version = version
    }
}

/// `POST /v1/init` (schema `InitResponse`): version 1, the base, with the recorded settings.
public struct InitReply: Codable, Equatable, Sendable {
    public var version: Int
    public var method: String
    /// `experts` or `sequential`.
    public var scenario: String

    public init(version: Int, method: String, scenario: String) {
        self.version = version
        self.method = method
        self.scenario = scenario
    }
}

/// `POST /v1/verify` (schema `VerifyReport`): every stored chunk checked against its hash.
public struct VerifyReply: Codable, Equatable, Sendable {
    /// No chunk is missing or corrupt.
    public var clean: Bool
    public var manifests: Int
    public var chunksChecked: Int
    /// `MODEL/TENSOR: chunk HASH` of each missing chunk.
    public var missing: [String]
    /// The same for each chunk whose bytes do not match its hash.
    public var corrupt: [String]
    /// Chunks no manifest references (gc removes them).
    public var unreferencedChunks: Int

    public init(clean: Bool, manifests: Int, chunksChecked: Int, missing: [String], corrupt: [String], unreferencedChunks: Int) {
        self.clean = clean
        self.manifests = manifests
        self.chunksChecked = chunksChecked
        self.missing = missing
        self.corrupt = corrupt
        self.unreferencedChunks = unreferencedChunks
    }

    enum CodingKeys: String, CodingKey {
        case clean, manifests, chunksChecked = "chunks_checked", missing, corrupt, unreferencedChunks = "unreferenced_chunks"
    }
}

/// `POST /v1/gc` (schema `GCReport`): what garbage collection removed and kept.
public struct GCReply: Codable, Equatable, Sendable {
    public var removedManifests: Int
    public var removedChunks: Int
    public var removedBytes: Int
    public var keptChunks: Int

    public init(removedManifests: Int, removedChunks: Int, removedBytes: Int, keptChunks: Int) {
        self.removedManifests = removedManifests
        self.removedChunks = removedChunks
        self.removedBytes = removedBytes
        self.keptChunks = keptChunks
    }

    enum CodingKeys: String, CodingKey {
        case removedManifests = "removed_manifests", removedChunks = "removed_chunks", removedBytes = "removed_bytes", keptChunks = "kept_chunks"
    }
}
