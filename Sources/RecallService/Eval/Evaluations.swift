import Foundation
import RecallTensor
import RecallModel
import RecallStore

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
        let model = try LlamaModel(config: config, mapping: try store.checkpoint(of: m), scratch: cache, origin: "version \(number)")
        let tokenizer = try Tokenizer(directory: filesDir)
        var results: [(task: String, result: TaskEvaluator.Result)] = []
        for s in sets {
            let items = try TaskEvaluator.items(Data(s.eval.utf8), source: "eval items of task \(s.task)")
            results.append((s.task, try TaskEvaluator().evaluate(model, tokenizer: tokenizer, items: items)))
        }
        try provenance.recordEvaluations(version: number, results.map { $0.result.score(task: $0.task) })
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
