import Foundation
import RecallTensor
import RecallStore

/// Evaluations as the API asks for them: a version scored now (by `VersionEvaluator`), and the
/// accuracy matrix provenance holds.
extension Registry {
    /// Evaluates a version on every watched task now (and stores the results).
    public func evaluate(version ref: String) throws -> JSONValue {
        let number = try provenance.resolve(ref)
        let settings = try settings()
        let sets = try provenance.evalSets()
        guard !sets.isEmpty else {
            throw RecallError(.invalidArgument, "no task has eval items; register tasks with eval items (--eval FILE.jsonl) first")
        }
        guard let v = try provenance.version(number), let m = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "no version \(ref); see the version history")
        }
        let base = try RegistryBase(store: store, settings: settings)
        let evaluator = VersionEvaluator(store: store, config: base.config, tokenizer: try base.tokenizer(), scratch: cache)
        let results = try evaluator.evaluate(try store.checkpoint(of: m), origin: "version \(number)", sets: sets)
        try provenance.recordEvaluations(version: number, results.map { $0.result.score(task: $0.task) })
        return .object([("version", .int(number)), ("results", .array(results.map {
            .object([("task", .string($0.task)), ("accuracy", .number($0.result.accuracy, integer: nil)),
                     ("accuracy_norm", .number($0.result.accuracyNormalised, integer: nil)), ("n", .int($0.result.items))])
        }))])
    }

    /// The accuracy matrix (versions x tasks) in the registry's eval metric.
    public func evaluationsJSON(metric: EvalMetric? = nil) throws -> JSONValue {
        let metric = try metric ?? provenance.settings()?.evalMetric ?? .accuracy
        let rows = try provenance.evaluations(metric: metric)
        var tasks: [String] = try provenance.evalSets().map(\.task)
        for r in rows where !tasks.contains(r.task) { tasks.append(r.task) }
        var byVersion: [Int: [(String, JSONValue)]] = [:]
        for r in rows { byVersion[r.version, default: []].append((r.task, .number(r.value, integer: nil))) }
        let head = try provenance.head()
        let versions = try provenance.versions()
        return .object([
            ("metric", .string(metric.rawValue)), ("tasks", .array(tasks.map { .string($0) })),
            ("versions", .array(versions.filter { byVersion[$0.number] != nil }.map { v in
                .object([("version", .int(v.number)), ("task", v.task.map { .string($0) } ?? .null), ("head", .bool(v.number == head)),
                         ("gated", .bool(v.gated)), ("accuracy", .object(byVersion[v.number] ?? []))])
            })),
        ])
    }
}
