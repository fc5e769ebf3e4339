import CSQLite
import Foundation
import RecallTensor

/// The destructor constant SQLite uses to copy bound text and blobs.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A value bound to or read from a statement.
public enum SQLValue: Equatable, Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public var int: Int? { if case let .int(v) = self { return Int(v) }; return nil }
    public var double: Double? {
        switch self { case let .double(v): return v; case let .int(v): return Double(v); default: return nil }
    }
    public var text: String? { if case let .text(v) = self { return v }; return nil }
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int) { self = .int(Int64(value)) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public static func of(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
    public static func of(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    public static func of(_ v: Double?) -> SQLValue { v.map { .double($0) } ?? .null }
}

/// One result row, by column name.
public struct SQLRow: Sendable {
    public let columns: [String: SQLValue]
    public subscript(_ name: String) -> SQLValue { columns[name] ?? .null }
}

/// A thin wrapper over one SQLite connection (the system libsqlite3).
///
/// Opened in WAL mode with foreign keys on and a busy timeout, so a reader never blocks the
/// writer and a second process waits instead of failing. Not thread-safe by itself: callers
/// serialise use (the provenance store holds a lock around every call).
public final class SQLiteDatabase: @unchecked Sendable {
    public let path: String
    private var db: OpaquePointer?

    public init(path: String) throws {
        self.path = path
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw RecallError(.io, "\(path): cannot open database (\(message))")
        }
        sqlite3_busy_timeout(db, 10_000)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA foreign_keys = ON")
        try execute("PRAGMA synchronous = NORMAL")
    }

    deinit { sqlite3_close_v2(db) }

    func error(_ what: String) -> RecallError {
        RecallError(.io, "\(path): \(what) failed (\(String(cString: sqlite3_errmsg(db))))")
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw RecallError(.io, "\(path): SQL failed (\(text))")
        }
    }

    /// Runs one statement with bound parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw error("prepare") }
        defer { sqlite3_finalize(stmt) }
        for (i, p) in parameters.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(stmt, idx)
            case let .int(v): rc = sqlite3_bind_int64(stmt, idx, v)
            case let .double(v): rc = sqlite3_bind_double(stmt, idx, v)
            case let .text(v): rc = sqlite3_bind_text(stmt, idx, v, -1, SQLITE_TRANSIENT)
            case let .blob(v): rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            }
            guard rc == SQLITE_OK else { throw error("bind") }
        }
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error("step") }
            var columns: [String: SQLValue] = [:]
            for c in 0..<sqlite3_column_count(stmt) {
                let name = String(cString: sqlite3_column_name(stmt, c))
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: columns[name] = .int(sqlite3_column_int64(stmt, c))
                case SQLITE_FLOAT: columns[name] = .double(sqlite3_column_double(stmt, c))
                case SQLITE_TEXT: columns[name] = .text(String(cString: sqlite3_column_text(stmt, c)))
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(stmt, c))
                    let p = sqlite3_column_blob(stmt, c)
                    columns[name] = .blob(n > 0 ? [UInt8](UnsafeRawBufferPointer(start: p, count: n)) : [])
                default: columns[name] = .null
                }
            }
            rows.append(SQLRow(columns: columns))
        }
        return rows
    }

    /// Row id of the last insert on this connection.
    public var lastInsertID: Int { Int(sqlite3_last_insert_rowid(db)) }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT`; rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}
