import Foundation
import RecallTensor

/// Applies the embedded migrations (migrations/NNN_name.sql) in order, each in its own
/// transaction, and records them in `schema_migrations`.
///
/// A database that has a migration this binary does not know was written by a newer release:
/// it is refused, never downgraded or half-understood.
public enum Migrator {
    /// The highest schema version this binary knows.
    public static var latestVersion: Int { EmbeddedMigrations.all.map(\.version).max() ?? 0 }

    /// Applies every known migration above the database's version, up to `target`.
    public static func migrate(_ db: SQLiteDatabase, upTo target: Int = Int.max) throws {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
            """)
        let current = try appliedVersion(db)
        if current > latestVersion {
            throw RecallError(.unsupported, "\(db.path): database schema version \(current) is newer than this binary's (\(latestVersion)); upgrade the registry's binaries")
        }
        for m in EmbeddedMigrations.all.sorted(by: { $0.version < $1.version }) where m.version > current && m.version <= target {
            try db.transaction {
                try db.execute(m.sql)
                try db.query("INSERT INTO schema_migrations(version, name) VALUES (?, ?)", [.int(Int64(m.version)), .text(m.name)])
            }
        }
    }

    public static func appliedVersion(_ db: SQLiteDatabase) throws -> Int {
        try db.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").first?["v"].int ?? 0
    }
}
