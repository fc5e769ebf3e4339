import Foundation
import RecallTensor

/// What a register records about its task next to the version it commits.
public struct TaskRegistration: Sendable {
    public var task: String
    public var modelID: Int
    /// SHA-256 of the samples file the typical samples were chosen from.
    public var samplesHash: String
    public var seed: Int
    /// The chosen typical samples with the size of the cluster each stands for (empty: none kept).
    public var typical: [(text: String, clusterSize: Int)]
    /// The task's eval items as JSON, if it was registered with some.
    public var eval: String?

    public init(task: String, modelID: Int, samplesHash: String, seed: Int,
                typical: [(text: String, clusterSize: Int)], eval: String?) {
        self.task = task
        self.modelID = modelID
        self.samplesHash = samplesHash
        self.seed = seed
        self.typical = typical
        self.eval = eval
    }
}

/// Tasks and their typical samples: what each register records next to its version.
extension ProvenanceStore {
    /// The version that first merged `modelID` as a new task model, if any.
    package func versionMerging(modelID: Int) throws -> Int? {
        try locked {
            try db.query("SELECT MIN(version) AS v FROM merge_inputs WHERE model_id = ? AND role = 'new'", [.of(modelID)]).first?["v"].int
        }
    }

    /// Typical-sample texts kept for every task but `task`, with their task.
    package func typicalSamples(excludingTask task: String) throws -> [(text: String, task: String)] {
        try locked {
            try db.query("""
                SELECT s.text, t.name FROM tasks t JOIN samples s ON s.set_id = t.sample_set_id
                WHERE t.name != ? ORDER BY t.created_at, t.name, s.position
                """, [.text(task)]).map { row in
                    let r = RowReader(row, table: "samples", key: "position")
                    return (try r.text("text"), try r.text("name"))
                }
        }
    }

    /// Inside a version's transaction: the task's sample set and typical samples, and the task row.
    static func recordTask(_ db: SQLiteDatabase, _ r: TaskRegistration) throws {
        let (task, modelID, samplesHash, seed, typical, eval) = (r.task, r.modelID, r.samplesHash, r.seed, r.typical, r.eval)
        var setID: Int?
        if !typical.isEmpty {
            // The same samples registered again for the task (a new model): the set is refreshed in place.
            if let existing = try db.query("SELECT id FROM sample_sets WHERE task = ? AND source_hash = ?",
                                           [.text(task), .text(samplesHash)]).first?["id"].int {
                try db.query("DELETE FROM samples WHERE set_id = ?", [.of(existing)])
                try db.query("UPDATE sample_sets SET model_id = ?, k = ?, seed = ? WHERE id = ?",
                             [.of(modelID), .of(typical.count), .of(seed), .of(existing)])
                setID = existing
            } else {
                try db.query("INSERT INTO sample_sets(task, model_id, source_hash, k, seed) VALUES (?, ?, ?, ?, ?)",
                             [.text(task), .of(modelID), .text(samplesHash), .of(typical.count), .of(seed)])
                setID = db.lastInsertID
            }
            for (i, t) in typical.enumerated() {
                try db.query("INSERT INTO samples(set_id, position, text, hash, cluster_size) VALUES (?, ?, ?, ?, ?)",
                             [.of(setID), .of(i), .text(t.text), .text(ContentHash.sha256Hex(Data(t.text.utf8))), .of(t.clusterSize)])
            }
        }
        try db.query("""
            INSERT INTO tasks(name, model_id, sample_set_id, eval_json) VALUES (?, ?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET model_id = excluded.model_id,
              sample_set_id = COALESCE(excluded.sample_set_id, tasks.sample_set_id),
              eval_json = COALESCE(excluded.eval_json, tasks.eval_json)
            """, [.text(task), .of(modelID), .of(setID), .of(eval)])
    }

    package func typicalSampleRows(task: String) throws -> [(text: String, clusterSize: Int)] {
        try locked {
            try db.query("""
                SELECT s.text, s.cluster_size FROM tasks t JOIN samples s ON s.set_id = t.sample_set_id
                WHERE t.name = ? ORDER BY s.position
                """, [.text(task)]).map { row in
                    let r = RowReader(row, table: "samples", key: "position")
                    return (try r.text("text"), try r.int("cluster_size"))
                }
        }
    }
}
