/// The answers of the lineage routes that move or name versions, as the daemon encodes them and
/// recallctl decodes them (docs/openapi.yaml names each schema).

/// `POST /v1/rollback` (schema `RollbackResponse`).
public struct RollbackReply: Codable, Equatable, Sendable {
    /// The version head now points at.
    public var head: Int

    public init(head: Int) { self.head = head }
}

/// `POST /v1/tags` (schema `TagResponse`).
public struct TagReply: Codable, Equatable, Sendable {
    public var tag: String
    /// The version the tag now names.
    public var version: Int

    public init(tag: String, version: Int) {
        self.tag = tag
        self.version = version
    }
}

/// `POST /v1/versions/{ref}/export` (schema `ExportResponse`).
public struct ExportReply: Codable, Equatable, Sendable {
    /// The resolved version number.
    public var version: Int
    /// The request's `path`, as given.
    public var path: String

    public init(version: Int, path: String) {
        self.version = version
        self.path = path
    }
}

/// `GET /v1/versions/{ref}/files` (schema `FileList`): `model.safetensors`, then the side files.
public struct FileListReply: Codable, Equatable, Sendable {
    public var files: [String]

    public init(files: [String]) { self.files = files }
}
