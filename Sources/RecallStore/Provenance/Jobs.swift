import Foundation
import RecallTensor

/// One durable job of the registry (today: `register`), as the `jobs` table holds it.
public struct JobRecord: Equatable, Sendable {
    public enum State: String, Sendable { case queued, running, succeeded, failed, cancelled }
    public let id: Int
    public let kind: String
    public let state: State
    public let payload: JSONValue
    public let phase: String?
    public let progress: Double
    public let error: String?
    /// While running: what finished phases produced (so a restart can resume); when done: the result.
    public let result: JSONValue?
    public let createdAt: String
    public let startedAt: String?
    public let finishedAt: String?

    init(row: SQLRow) {
        id = row["id"].int ?? 0
        kind = row["kind"].text ?? ""
        state = State(rawValue: row["state"].text ?? "") ?? .failed
        payload = (try? JSONValue.parse(Data((row["payload_json"].text ?? "{}").utf8))) ?? .object([])
        phase = row["phase"].text
        progress = row["progress"].double ?? 0
        error = row["error"].text
        result = row["result_json"].text.flatMap { try? JSONValue.parse(Data($0.utf8)) }
        createdAt = row["created_at"].text ?? ""
        startedAt = row["started_at"].text
        finishedAt = row["finished_at"].text
    }

    public var isFinished: Bool { state == .succeeded || state == .failed || state == .cancelled }

    public var json: JSONValue {
        .object([
            ("id", .int(id)), ("kind", .string(kind)), ("state", .string(state.rawValue)),
            ("phase", phase.map { .string($0) } ?? .null), ("progress", .number(progress, integer: nil)),
            ("error", error.map { .string($0) } ?? .null), ("result", result ?? .null),
            ("task", payload["task"] ?? .null), ("model", payload["model"] ?? .null),
            ("created_at", .string(createdAt)), ("started_at", startedAt.map { .string($0) } ?? .null),
            ("finished_at", finishedAt.map { .string($0) } ?? .null),
        ])
    }
}

extension ProvenanceStore {
    public func enqueueJob(kind: String, payload: JSONValue) throws -> JobRecord {
        try locked {
            try db.transaction {
                try db.query("INSERT INTO jobs(kind, state, payload_json) VALUES (?, 'queued', ?)", [.text(kind), .text(payload.serialized())])
                let id = db.lastInsertID
                try db.query("INSERT INTO events(kind, detail_json) VALUES ('job.queued', ?)",
                             [.text(JSONValue.object([("job", .int(id)), ("kind", .string(kind))]).serialized())])
                return JobRecord(row: try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)])[0])
            }
        }
    }

    public func job(_ id: Int) throws -> JobRecord? {
        try locked { try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)]).first.map(JobRecord.init) }
    }

    /// Newest first.
    public func jobs(limit: Int = 50) throws -> [JobRecord] {
        try locked { try db.query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [.of(limit)]).map(JobRecord.init) }
    }

    /// Claims the oldest queued job (arrival order) and marks it running.
    package func claimNextJob() throws -> JobRecord? {
        try locked {
            try db.transaction {
                guard let row = try db.query("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").first else { return nil }
                let id = row["id"].int ?? 0
                try db.query("""
                    UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                    """, [.of(id)])
                return JobRecord(row: try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)])[0])
            }
        }
    }

    package func updateJob(_ id: Int, phase: String, progress: Double, result: JSONValue? = nil) throws {
        try locked {
            if let result {
                try db.query("UPDATE jobs SET phase = ?, progress = ?, result_json = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                             [.text(phase), .double(min(1, max(0, progress))), .text(result.serialized()), .of(id)])
            } else {
                try db.query("UPDATE jobs SET phase = ?, progress = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                             [.text(phase), .double(min(1, max(0, progress))), .of(id)])
            }
        }
    }

    package func finishJob(_ id: Int, result: JSONValue) throws {
        try locked {
            try db.query("""
                UPDATE jobs SET state = 'succeeded', phase = 'done', progress = 1, result_json = ?,
                finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                """, [.text(result.serialized()), .of(id)])
            try db.query("INSERT INTO events(kind, detail_json) VALUES ('job.succeeded', ?)",
                         [.text(JSONValue.object([("job", .int(id))]).serialized())])
        }
    }

    package func failJob(_ id: Int, error: String) throws {
        try locked {
            try db.query("""
                UPDATE jobs SET state = 'failed', error = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                """, [.text(error), .of(id)])
            try db.query("INSERT INTO events(kind, detail_json) VALUES ('job.failed', ?)",
                         [.text(JSONValue.object([("job", .int(id)), ("error", .string(error))]).serialized())])
        }
    }

    /// After a restart: jobs left `running` by a dead daemon go back to the queue (they resume from
    /// what their finished phases recorded). Returns their ids.
    package func requeueInterruptedJobs() throws -> [Int] {
        try locked {
            try db.transaction {
                let ids = try db.query("SELECT id FROM jobs WHERE state = 'running' ORDER BY id").compactMap { $0["id"].int }
                for id in ids {
                    try db.query("UPDATE jobs SET state = 'queued', updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", [.of(id)])
                    try db.query("INSERT INTO events(kind, detail_json) VALUES ('job.resumed', ?)",
                                 [.text(JSONValue.object([("job", .int(id)), ("reason", .string("daemon restarted while the job ran"))]).serialized())])
                }
                return ids
            }
        }
    }

    /// Counts per state, for metrics.
    public func jobCounts() throws -> [String: Int] {
        try locked {
            var out: [String: Int] = [:]
            for r in try db.query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") { out[r["state"].text ?? ""] = r["n"].int ?? 0 }
            return out
        }
    }
}
