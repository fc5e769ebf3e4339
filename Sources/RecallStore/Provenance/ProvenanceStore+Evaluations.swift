import Foundation

/// One task's measured score on one version, as stored (both metrics).
public struct EvaluationScore: Equatable, Sendable {
    public var task: String
    public var accuracy: Double
    public var accuracyNormalised: Double
    public var items: Int

    public init(task: String, accuracy: Double, accuracyNormalised: Double, items: Int) {
        self.task = task
        self.accuracy = accuracy
        self.accuracyNormalised = accuracyNormalised
        self.items = items
    }
}

/// Per-version task accuracies: what `register` measures for every watched task, what
/// `recallctl eval VERSION` re-measures, what the merge gate compares against.
extension ProvenanceStore {
    /// Tasks registered with eval items, in registration order.
    package func evalSets() throws -> [(task: String, eval: String)] {
        try locked {
            try db.query("SELECT name, eval_json FROM tasks WHERE eval_json IS NOT NULL ORDER BY created_at, name")
                .map { row in
                    let r = RowReader(row, table: "tasks", key: "name")
                    return (try r.text("name"), try r.text("eval_json"))
                }
        }
    }

    /// The best value of `metric` on `task` over versions that are not gated.
    package func bestEvaluation(task: String, metric: EvalMetric) throws -> (value: Double, version: Int)? {
        try locked {
            try db.query("""
                SELECT e.value, e.version FROM evaluations e JOIN versions v ON v.number = e.version
                WHERE e.task = ? AND e.metric = ? AND v.gated = 0 ORDER BY e.value DESC, e.version LIMIT 1
                """, [.text(task), .text(metric.rawValue)]).first.map { row in
                    let r = RowReader(row, table: "evaluations", key: "version")
                    return (try r.double("value"), try r.int("version"))
                }
        }
    }

    static func recordEvaluation(_ db: SQLiteDatabase, version: Int, _ r: EvaluationScore) throws {
        let task = r.task
        for metric in EvalMetric.allCases {
            try db.query("""
                INSERT INTO evaluations(version, task, metric, value, n) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(version, task, metric) DO UPDATE SET value = excluded.value, n = excluded.n,
                  created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """, [.of(version), .text(task), .text(metric.rawValue), .double(metric.value(of: r)), .of(r.items)])
        }
    }

    package func recordEvaluations(version: Int, _ scores: [EvaluationScore]) throws {
        try locked { try db.transaction { for s in scores { try Self.recordEvaluation(db, version: version, s) } } }
    }

    /// Every stored evaluation of one metric: (version, task, value, n).
    package func evaluations(metric: EvalMetric) throws -> [(version: Int, task: String, value: Double, n: Int)] {
        try locked {
            try db.query("SELECT version, task, value, n FROM evaluations WHERE metric = ? ORDER BY version, task", [.text(metric.rawValue)])
                .map { row in
                    let r = RowReader(row, table: "evaluations", key: "version")
                    return (try r.int("version"), try r.text("task"), try r.double("value"), try r.int("n"))
                }
        }
    }
}
