import Foundation

/// Per-version task accuracies: what `register` measures for every watched task, what
/// `recallctl eval VERSION` re-measures, what the merge gate compares against.
extension ProvenanceStore {
    /// Tasks registered with eval items, in registration order.
    func evalSets() throws -> [(task: String, eval: String)] {
        try locked {
            try db.query("SELECT name, eval_json FROM tasks WHERE eval_json IS NOT NULL ORDER BY created_at, name")
                .compactMap { r in r["eval_json"].text.map { (r["name"].text ?? "", $0) } }
        }
    }

    /// The best value of `metric` on `task` over versions that are not gated.
    func bestEvaluation(task: String, metric: String) throws -> (value: Double, version: Int)? {
        try locked {
            try db.query("""
                SELECT e.value, e.version FROM evaluations e JOIN versions v ON v.number = e.version
                WHERE e.task = ? AND e.metric = ? AND v.gated = 0 ORDER BY e.value DESC, e.version LIMIT 1
                """, [.text(task), .text(metric)]).first.map { ($0["value"].double ?? 0, $0["version"].int ?? 0) }
        }
    }

    static func recordEvaluation(_ db: SQLiteDatabase, version: Int, task: String, _ r: TaskEvaluator.Result) throws {
        for (metric, value) in [("accuracy", r.accuracy), ("accuracy_norm", r.accuracyNormalised)] {
            try db.query("""
                INSERT INTO evaluations(version, task, metric, value, n) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(version, task, metric) DO UPDATE SET value = excluded.value, n = excluded.n,
                  created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """, [.of(version), .text(task), .text(metric), .double(value), .of(r.items)])
        }
    }

    func recordEvaluations(version: Int, _ results: [(task: String, result: TaskEvaluator.Result)]) throws {
        try locked { try db.transaction { for r in results { try Self.recordEvaluation(db, version: version, task: r.task, r.result) } } }
    }

    /// Every stored evaluation of one metric: (version, task, value, n).
    func evaluations(metric: String) throws -> [(version: Int, task: String, value: Double, n: Int)] {
        try locked {
            try db.query("SELECT version, task, value, n FROM evaluations WHERE metric = ? ORDER BY version, task", [.text(metric)])
                .map { ($0["version"].int ?? 0, $0["task"].text ?? "", $0["value"].double ?? 0, $0["n"].int ?? 0) }
        }
    }
}

extension Registry {
    /// Evaluates a version on every watched task now (and stores the results).
    public func evaluate(version ref: String) throws -> JSONValue {
        let number = try provenance.resolve(ref)
        let settings = try settings()
        let sets = try provenance.evalSets()
        guard !sets.isEmpty else {
            throw RecallError(.invalidArgument, "no task has eval items; register tasks with --eval FILE.jsonl first")
        }
        guard let v = try provenance.version(number), let m = try provenance.model(id: v.modelID),
              let baseRecord = try provenance.model(id: settings.baseModelID) else {
            throw RecallError(.notFound, "no version \(ref); see `recallctl history`")
        }
        let base = try store.checkpoint(of: baseRecord)
        let filesDir = try baseFiles(base)
        let config = try ModelConfig(json: try JSONValue.parse(try base.file(named: "config.json"), rejectDuplicateKeys: false),
                                     source: "config.json of the base")
        let model = try LlamaModel(config: config, weights: try store.checkpoint(of: m), origin: "version \(number)")
        let tokenizer = try Tokenizer(directory: filesDir)
        var results: [(task: String, result: TaskEvaluator.Result)] = []
        for s in sets {
            let items = try TaskEvaluator.items(Data(s.eval.utf8), source: "eval items of task \(s.task)")
            results.append((s.task, try TaskEvaluator().evaluate(model, tokenizer: tokenizer, items: items)))
        }
        try provenance.recordEvaluations(version: number, results)
        return .object([("version", .int(number)), ("results", .array(results.map {
            .object([("task", .string($0.task)), ("accuracy", .number($0.result.accuracy, integer: nil)),
                     ("accuracy_norm", .number($0.result.accuracyNormalised, integer: nil)), ("n", .int($0.result.items))])
        }))])
    }

    /// The accuracy matrix (versions x tasks) in the registry's eval metric.
    public func evaluationsJSON(metric: String? = nil) throws -> JSONValue {
        let chosen = try provenance.settings()?.evalMetric ?? "accuracy"
        let metric = metric ?? chosen
        guard RegistrySettings.evalMetrics.contains(metric) else {
            throw RecallError(.invalidArgument, "metric '\(metric)' must be one of \(RegistrySettings.evalMetrics.joined(separator: ", "))")
        }
        let rows = try provenance.evaluations(metric: metric)
        var tasks: [String] = try provenance.evalSets().map(\.task)
        for r in rows where !tasks.contains(r.task) { tasks.append(r.task) }
        var byVersion: [Int: [(String, JSONValue)]] = [:]
        for r in rows { byVersion[r.version, default: []].append((r.task, .number(r.value, integer: nil))) }
        let head = try provenance.head()
        let versions = try provenance.versions()
        return .object([
            ("metric", .string(metric)), ("tasks", .array(tasks.map { .string($0) })),
            ("versions", .array(versions.filter { byVersion[$0.number] != nil }.map { v in
                .object([("version", .int(v.number)), ("task", v.task.map { .string($0) } ?? .null), ("head", .bool(v.number == head)),
                         ("gated", .bool(v.gated)), ("accuracy", .object(byVersion[v.number] ?? []))])
            })),
        ])
    }
}
