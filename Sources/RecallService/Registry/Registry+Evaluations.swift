import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// Evaluations as the API asks for them: a version scored now (by `VersionEvaluator`), and the
/// accuracy matrix provenance holds.
extension Registry {
    /// Evaluates a version on every watched task now (and stores the results).
    public func evaluate(version ref: String) throws -> EvalReply {
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
        return EvalReply(version: number, results: results.map {
            .init(task: $0.task, accuracy: $0.result.accuracy, accuracyNorm: $0.result.accuracyNormalised, n: $0.result.items)
        })
    }

    /// The accuracy matrix (versions x tasks) in the registry's eval metric.
    public func evaluations(metric: EvalMetric? = nil) throws -> EvaluationsReply {
        let metric = try metric ?? provenance.settings()?.evalMetric ?? .accuracy
        let rows = try provenance.evaluations(metric: metric)
        var tasks: [String] = try provenance.evalSets().map(\.task)
        for r in rows where !tasks.contains(r.task) { tasks.append(r.task) }
        var byVersion: [Int: [String: Double]] = [:]
        for r in rows { byVersion[r.version, default: [:]][r.task] = r.value }
        let head = try provenance.head()
        return EvaluationsReply(metric: metric.rawValue, tasks: tasks, versions: try provenance.versions().compactMap { v in
            byVersion[v.number].map { .init(version: v.number, task: v.task, head: v.number == head, gated: v.gated, accuracy: $0) }
        })
    }
}
