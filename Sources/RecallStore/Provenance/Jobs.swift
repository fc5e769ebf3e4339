import Foundation
import RecallTensor

/// One durable job of the registry (today: `register`), as the `jobs` table holds it.
public struct JobRecord: Equatable, Sendable {
    public enum State: String, Sendable { case queued, running, succeeded, failed, cancelled }
    /// What a job does; `register` is the only kind the worker runs today.
    public enum Kind: String, Sendable { case register }
    public let id: Int
    public let kind: Kind
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

    init(row: SQLRow) throws {
        let r = RowReader(row, table: "jobs")
        id = try r.int("id")
        kind = try r.value("kind")
        state = try r.value("state")
        guard let payload = try r.json("payload_json") else { throw r.damage("payload_json", "no JSON text") }
        self.payload = payload
        phase = row["phase"].text
        progress = try r.double("progress")
        error = row["error"].text
        result = try r.json("result_json")
        createdAt = try r.text("created_at")
        startedAt = row["started_at"].text
        finishedAt = row["finished_at"].text
    }

    /// This job as failed with `error`: what the daemon answers about a failure it has not yet
    /// been able to write (a full disk).
    public func failed(with error: String) -> JobRecord {
        JobRecord(id: id, kind: kind, state: .failed, payload: payload, phase: phase, progress: progress, error: error,
                  result: result, createdAt: createdAt, startedAt: startedAt, finishedAt: finishedAt)
    }

    private init(id: Int, kind: Kind, state: State, payload: JSONValue, phase: String?, progress: Double, error: String?,
                 result: JSONValue?, createdAt: String, startedAt: String?, finishedAt: String?) {
        self.id = id; self.kind = kind; self.state = state; self.payload = payload; self.phase = phase
        self.progress = progress; self.error = error; self.result = result; self.createdAt = createdAt
        self.startedAt = startedAt; self.finishedAt = finishedAt
    }

    public var isFinished: Bool { state == .succeeded || state == .failed || state == .cancelled }
}

extension ProvenanceStore {
    public func enqueueJob(kind: JobRecord.Kind, payload: JSONValue) throws -> JobRecord {
        try locked {
            try db.transaction {
                try db.query("INSERT INTO jobs(kind, state, payload_json) VALUES (?, 'queued', ?)", [.text(kind.rawValue), .text(payload.serialized())])
                let id = db.lastInsertID
                try db.query("INSERT INTO events(kind, detail_json) VALUES ('job.queued', ?)",
                             [.text(JSONValue.object([("job", .int(id)), ("kind", .string(kind.rawValue))]).serialized())])
                return try JobRecord(row: try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)])[0])
            }
        }
    }

    public func job(_ id: Int) throws -> JobRecord? {
        try locked { try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)]).first.map { try JobRecord(row: $0) } }
    }

    /// The succeeded register job that committed `version` (its result names it and is not the
    /// reply to identical content registered earlier), found by SQLite's JSON functions so the
    /// version page does not decode every job's payload.
    public func registerJob(committing version: Int) throws -> JobRecord? {
        try locked {
            try db.query("""
                SELECT * FROM jobs WHERE kind = 'register' AND state = 'succeeded'
                AND json_extract(result_json, '$.version') = ? AND COALESCE(json_extract(result_json, '$.existing'), 0) = 0
                ORDER BY id LIMIT 1
                """, [.of(version)]).first.map { try JobRecord(row: $0) }
        }
    }

    /// Newest first.
    public func jobs(limit: Int = 50) throws -> [JobRecord] {
        try locked { try db.query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [.of(limit)]).map { try JobRecord(row: $0) } }
    }

    /// Claims the oldest queued job (arrival order) and marks it running. A queued row that does
    /// not read (damage) is marked failed with the reason instead, so it cannot hold up the queue.
    package func claimNextJob() throws -> JobRecord? {
        try locked {
            while true {
                let claimed: JobRecord?? = try db.transaction {
                    guard let row = try db.query("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").first else { return .some(nil) }
                    let id = try RowReader(row, table: "jobs").int("id")
                    try db.query("""
                        UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                        """, [.of(id)])
                    do {
                        return .some(try JobRecord(row: try db.query("SELECT * FROM jobs WHERE id = ?", [.of(id)])[0]))
                    } catch {
                        try db.query("""
                            UPDATE jobs SET state = 'failed', error = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                            updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                            """, [.text("\(error)"), .of(id)])
                        return nil
                    }
                }
                if let claimed { return claimed }
            }
        }
    }

    /// The paths queued or running jobs still read: each one's `model` (an upload's file, or the
    /// client's path) and `resolved` (hard links or an imported copy under `incoming/`).
    public func inputPathsOfUnfinishedJobs() throws -> Set<String> {
        try locked {
            Set(try db.query("""
                SELECT json_extract(payload_json, '$.model') AS model, json_extract(payload_json, '$.resolved') AS resolved
                FROM jobs WHERE state IN ('queued', 'running') AND json_valid(payload_json)
                """).flatMap { [$0["model"].text, $0["resolved"].text].compactMap { $0 } })
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
    public func jobCounts() throws -> [JobRecord.State: Int] {
        try locked {
            var out: [JobRecord.State: Int] = [:]
            for row in try db.query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                let r = RowReader(row, table: "jobs", key: "n")
                out[try r.value("state", as: JobRecord.State.self)] = try r.int("n")
            }
            return out
        }
    }
}
