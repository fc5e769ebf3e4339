import Foundation
import RecallTensor
import RecallMerge

/// Provenance in SQLite: models, versions, refs (head and tags), merge inputs, per-layer
/// weights, similarities, events. Every public call is serialised on one connection.
///
/// Head moves only here, inside the same transaction that makes a version visible, so a crash
/// either shows the whole version (and head on it) or nothing of it.
public final class ProvenanceStore: @unchecked Sendable {
    /// The only handle on the database; SQL stays inside RecallStore (tests reach it with @testable).
    let db: SQLiteDatabase
    private let lock = NSLock()

    public init(path: URL, migrateUpTo target: Int = Int.max) throws {
        db = try SQLiteDatabase(path: path.path)
        try Migrator.migrate(db, upTo: target)
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Models

    public func model(hash: String) throws -> ModelRecord? {
        try locked { try db.query("SELECT * FROM models WHERE content_hash = ?", [.text(hash)]).first.map { try ModelRecord(row: $0) } }
    }

    public func model(id: Int) throws -> ModelRecord? {
        try locked { try db.query("SELECT * FROM models WHERE id = ?", [.of(id)]).first.map { try ModelRecord(row: $0) } }
    }

    /// Versions and models recorded, and the raw bytes of every model, counted by SQLite (status
    /// and /metrics ask on every call; loading every row grew with the lineage).
    /// `modelUniqueBytes` is nil while any model predates its unique-bytes record.
    public func totals() throws -> (versions: Int, models: Int, modelRawBytes: Int, modelUniqueBytes: Int?) {
        try locked {
            let row = try db.query("""
                SELECT (SELECT COUNT(*) FROM versions) AS versions, (SELECT COUNT(*) FROM models) AS models,
                       (SELECT COALESCE(SUM(raw_bytes), 0) FROM models) AS raw,
                       (SELECT CASE WHEN COUNT(*) = COUNT(unique_bytes) THEN COALESCE(SUM(unique_bytes), 0) END FROM models) AS unique_total
                """)[0]
            let r = RowReader(row, table: "totals")
            return (try r.int("versions"), try r.int("models"), try r.int("raw"), try r.optionalInt("unique_total"))
        }
    }

    public func models() throws -> [ModelRecord] {
        try locked { try db.query("SELECT * FROM models ORDER BY id").map { try ModelRecord(row: $0) } }
    }

    /// Inserts a model row, or returns the existing one with the same content hash (idempotent).
    public func insertModel(kind: ModelRecord.Kind, name: String, task: String?, sourcePath: String?, format: ModelFormat,
                            contentHash: String, architecture: String, parentID: Int?, rawBytes: Int,
                            storedBytes: Int, uniqueBytes: Int? = nil) throws -> (record: ModelRecord, created: Bool) {
        try locked {
            try db.transaction {
                if let existing = try db.query("SELECT * FROM models WHERE content_hash = ?", [.text(contentHash)]).first {
                    return (try ModelRecord(row: existing), false)
                }
                try db.query("""
                    INSERT INTO models(kind, name, task, source_path, format, content_hash, architecture, parent_id, raw_bytes, stored_bytes, unique_bytes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.text(kind.rawValue), .text(name), .of(task), .of(sourcePath), .text(format.rawValue), .text(contentHash),
                          .text(architecture), .of(parentID), .of(rawBytes), .of(storedBytes), .of(uniqueBytes)])
                let id = db.lastInsertID
                try db.query("INSERT INTO events(kind, model_id, detail_json) VALUES ('model.added', ?, ?)",
                             [.of(id), .text(JSONValue.object([("name", .string(name)), ("kind", .string(kind.rawValue))]).serialized())])
                return (try ModelRecord(row: try db.query("SELECT * FROM models WHERE id = ?", [.of(id)])[0]), true)
            }
        }
    }

    // MARK: Versions

    /// Records a new version with its merge details; moves head to it unless `gated`. A register
    /// also passes the task it registered and the scores it measured: one transaction makes the
    /// version, its task row, typical samples and evaluations visible together.
    public func commitVersion(modelID: Int, parent: Int?, task: String?, method: MergeMethodName, optionsJSON: String = "{}",
                              message: String = "", detail: VersionDetail = VersionDetail(),
                              gated: Bool = false, gateReason: String? = nil,
                              registering registration: TaskRegistration? = nil,
                              evaluations: [EvaluationScore] = []) throws -> VersionRecord {
        try locked {
            try db.transaction {
                let number = (try db.query("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM versions").first?["n"].int) ?? 1
                try db.query("""
                    INSERT INTO versions(number, model_id, parent_version, task, method, options_json, message, gated, gate_reason)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.of(number), .of(modelID), .of(parent), .of(task), .text(method.rawValue), .text(optionsJSON), .text(message),
                          .of(gated ? 1 : 0), .of(gateReason)])
                for i in detail.inputs {
                    try db.query("INSERT INTO merge_inputs(version, model_id, role) VALUES (?, ?, ?)", [.of(number), .of(i.modelID), .text(i.role.rawValue)])
                }
                for w in detail.layerWeights {
                    try db.query("INSERT INTO layer_weights(version, layer, model_id, weight) VALUES (?, ?, ?, ?)",
                                 [.of(number), .of(w.layer), .of(w.modelID), .double(w.weight)])
                }
                for s in detail.similarities {
                    try db.query("INSERT INTO similarities(version, layer, model_a, model_b, value, sigma) VALUES (?, ?, ?, ?, ?, ?)",
                                 [.of(number), .of(s.layer), .of(s.modelA), .of(s.modelB), .double(s.value), .of(s.sigma)])
                }
                if let registration { try Self.recordTask(db, registration) }
                for score in evaluations { try Self.recordEvaluation(db, version: number, score) }
                if !gated { try setRef("head", kind: "head", version: number) }
                try db.query("INSERT INTO events(kind, version, model_id, detail_json) VALUES (?, ?, ?, ?)",
                             [.text(gated ? "version.gated" : "version.committed"), .of(number), .of(modelID),
                              .text(JSONValue.object([("method", .string(method.rawValue))]).serialized())])
                return try VersionRecord(row: try db.query("SELECT * FROM versions WHERE number = ?", [.of(number)])[0])
            }
        }
    }

    public func versions() throws -> [VersionRecord] {
        try locked { try db.query("SELECT * FROM versions ORDER BY number").map { try VersionRecord(row: $0) } }
    }

    public func version(_ number: Int) throws -> VersionRecord? {
        try locked { try db.query("SELECT * FROM versions WHERE number = ?", [.of(number)]).first.map { try VersionRecord(row: $0) } }
    }

    public func detail(of number: Int) throws -> VersionDetail {
        try locked {
            var d = VersionDetail()
            d.inputs = try db.query("SELECT model_id, role FROM merge_inputs WHERE version = ? ORDER BY model_id, role", [.of(number)])
                .map { row in
                    let r = RowReader(row, table: "merge_inputs of version \(number)", key: "model_id")
                    return (try r.int("model_id"), try r.value("role", as: InputRole.self))
                }
            d.layerWeights = try db.query("SELECT layer, model_id, weight FROM layer_weights WHERE version = ? ORDER BY layer, model_id", [.of(number)])
                .map { row in
                    let r = RowReader(row, table: "layer_weights of version \(number)", key: "layer")
                    return (try r.int("layer"), try r.int("model_id"), try r.double("weight"))
                }
            d.similarities = try db.query("SELECT * FROM similarities WHERE version = ? ORDER BY layer, model_a, model_b", [.of(number)])
                .map { row in
                    let r = RowReader(row, table: "similarities of version \(number)", key: "layer")
                    return (try r.int("layer"), try r.int("model_a"), try r.int("model_b"), try r.double("value"), try r.optionalDouble("sigma"))
                }
            return d
        }
    }

    // MARK: Refs

    private func setRef(_ name: String, kind: String, version: Int) throws {
        try db.query("""
            INSERT INTO refs(name, kind, version) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET version = excluded.version, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            """, [.text(name), .text(kind), .of(version)])
    }

    /// The version head points at, if any.
    public func head() throws -> Int? {
        try locked { try db.query("SELECT version FROM refs WHERE name = 'head'").first?["version"].int }
    }

    /// Moves head to `version` (history keeps every version).
    public func rollback(to version: Int) throws {
        try locked {
            try db.transaction {
                guard try !db.query("SELECT 1 FROM versions WHERE number = ?", [.of(version)]).isEmpty else {
                    throw RecallError(.notFound, "no version \(version); list the versions with history")
                }
                let from = try db.query("SELECT version FROM refs WHERE name = 'head'").first?["version"].int
                try setRef("head", kind: "head", version: version)
                try db.query("INSERT INTO events(kind, version, detail_json) VALUES ('head.rollback', ?, ?)",
                             [.of(version), .text(JSONValue.object([("from", from.map { .int($0) } ?? .null)]).serialized())])
            }
        }
    }

    /// Points tag `name` at `version` (re-tagging moves it).
    public func tag(_ name: String, version: Int) throws {
        guard !name.isEmpty, name != "head", Int(name) == nil, !name.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw RecallError(.invalidArgument, "tag name \"\(name)\" is not allowed (non-empty, not a number, no spaces or '/', not 'head')")
        }
        try locked {
            try db.transaction {
                guard try !db.query("SELECT 1 FROM versions WHERE number = ?", [.of(version)]).isEmpty else {
                    throw RecallError(.notFound, "no version \(version); list the versions with history")
                }
                try setRef(name, kind: "tag", version: version)
                try db.query("INSERT INTO events(kind, version, detail_json) VALUES ('tag', ?, ?)",
                             [.of(version), .text(JSONValue.object([("name", .string(name))]).serialized())])
            }
        }
    }

    public func tags() throws -> [(name: String, version: Int)] {
        try locked {
            try db.query("SELECT name, version FROM refs WHERE kind = 'tag' ORDER BY name").map { row in
                let r = RowReader(row, table: "refs", key: "version")
                return (try r.text("name"), try r.int("version"))
            }
        }
    }

    /// Resolves `head`, a tag, or a version number.
    public func resolve(_ ref: String) throws -> Int {
        if let n = Int(ref) {
            guard try version(n) != nil else { throw RecallError(.notFound, "no version \(n); list the versions with history") }
            return n
        }
        if let v = try locked({ try db.query("SELECT version FROM refs WHERE name = ?", [.text(ref)]).first?["version"].int }) { return v }
        throw RecallError(.notFound, "no version or tag named \"\(ref)\"; list the versions with history")
    }

    /// Content hashes of every recorded model: the manifests registry gc must keep.
    public func referencedModelHashes() throws -> Set<String> {
        try locked { Set(try db.query("SELECT content_hash FROM models").compactMap { $0["content_hash"].text }) }
    }

    public func events(limit: Int = 100) throws -> [SQLRow] {
        try locked { try db.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", [.of(limit)]) }
    }
}
