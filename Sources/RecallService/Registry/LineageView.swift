import Foundation
import RecallTensor
import RecallStore

/// Everything the lineage graph draws: the versions (as `historyJSON`), the task model each merge
/// took in as its `new` input (an edge task model -> merged version, distinct from parent ->
/// child) and head's rollbacks (events, oldest first).
extension Registry {
    public func lineageJSON() throws -> JSONValue {
        let taskModels = try provenance.taskModelInputs().map { t in
            JSONValue.object([("model_id", .int(t.modelID)), ("name", .string(t.name)),
                              ("task", t.task.map { .string($0) } ?? .null), ("version", .int(t.version))])
        }
        let rollbacks = try provenance.rollbackEvents().map { r in
            JSONValue.object([("at", .string(r.at)), ("version", .int(r.version)), ("from", r.from.map { .int($0) } ?? .null)])
        }
        return .object([("versions", try historyJSON()), ("task_models", .array(taskModels)), ("rollbacks", .array(rollbacks))])
    }
}
