import Foundation
import RecallTensor

/// A `head.rollback` row of `events`: head moved back to `version` (from `from`) at `at`.
public struct RollbackEvent: Equatable, Sendable {
    public let at: String
    public let version: Int
    public let from: Int?
}

/// A task model and the version it fed as the `new` input of its merge.
public struct TaskModelInput: Equatable, Sendable {
    public let version: Int
    public let modelID: Int
    public let name: String
    public let task: String?
}

/// What the lineage graph draws besides parent -> child: rollbacks (events) and the task model
/// each merge took in. One query each, so the lineage page of many versions stays one pass.
extension ProvenanceStore {
    /// Every rollback of head, oldest first.
    public func rollbackEvents() throws -> [RollbackEvent] {
        try locked {
            try db.query("SELECT at, version, detail_json FROM events WHERE kind = 'head.rollback' ORDER BY id").map { row in
                let detail = row["detail_json"].text.flatMap { try? JSONValue.parse(Data($0.utf8), rejectDuplicateKeys: false) }
                let r = RowReader(row, table: "events", key: "version")
                return RollbackEvent(at: try r.text("at"), version: try r.int("version"), from: detail?["from"]?.intValue)
            }
        }
    }

    /// The `new` input of every version's merge (the task model a register brought), by version.
    public func taskModelInputs() throws -> [TaskModelInput] {
        try locked {
            try db.query("""
                SELECT i.version, i.model_id, m.name, m.task FROM merge_inputs i JOIN models m ON m.id = i.model_id
                WHERE i.role = 'new' ORDER BY i.version, i.model_id
                """).map { row in
                    let r = RowReader(row, table: "merge_inputs", key: "version")
                    return TaskModelInput(version: try r.int("version"), modelID: try r.int("model_id"),
                                          name: try r.text("name"), task: row["task"].text)
                }
        }
    }
}
