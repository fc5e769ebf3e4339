import RecallTensor

/// `POST /v1/rollback`: move head to a version (number or tag).
public struct RollbackRequest: Equatable, Sendable {
    public var version: String

    public init(version: String) { self.version = version }
    public init(json: JSONValue) throws { version = try json.requiredString("version") }
    public var json: JSONValue { .object([("version", .string(version))]) }
}

/// `POST /v1/tags`: name a version.
public struct TagRequest: Equatable, Sendable {
    public var name: String
    public var version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }

    public init(json: JSONValue) throws {
        name = try json.requiredString("name")
        version = try json.requiredString("version")
    }

    public var json: JSONValue { .object([("name", .string(name)), ("version", .string(version))]) }
}

/// `POST /v1/versions/{ref}/export`: write a version as an HF directory at a path on the daemon's
/// machine (Unix socket only; over TCP the files are downloaded).
public struct ExportRequest: Equatable, Sendable {
    public var path: String
    public var force: Bool
    /// `f32`, `f16` or `bf16`; nil keeps the stored dtypes.
    public var dtype: String?

    public init(path: String, force: Bool = false, dtype: String? = nil) {
        self.path = path
        self.force = force
        self.dtype = dtype
    }

    /// The dtype spellings an export accepts.
    public static let dtypes = ["f32", "f16", "bf16", "float32", "float16", "bfloat16"]

    public init(json: JSONValue) throws {
        path = try json.requiredString("path")
        force = try json.bool("force") ?? false
        dtype = try json.string("dtype")
        if let dtype, !Self.dtypes.contains(dtype) {
            throw RecallError(.invalidArgument, "field \"dtype\": '\(dtype)' must be one of \(Self.dtypes.joined(separator: ", "))")
        }
    }

    public var json: JSONValue {
        .object([("path", .string(path)), ("force", .bool(force)), ("dtype", dtype.map { .string($0) } ?? .null)])
    }
}

/// The answer to `POST /v1/uploads`: the id a register names. `path` is sent only over the Unix
/// socket (same user); a TCP client never learns or names a server path.
public struct UploadReply: Codable, Equatable, Sendable {
    public var upload: String
    public var bytes: Int
    /// Absent (not null) over TCP.
    public var path: String?

    public init(upload: String, bytes: Int, path: String? = nil) {
        self.upload = upload
        self.bytes = bytes
        self.path = path
    }
}
