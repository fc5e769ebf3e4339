import Foundation
import RecallTensor
import RecallStore
import RecallAPI

/// Everything the lineage graph draws: the versions (as `history()`), the task model each merge
/// took in as its `new` input (an edge task model -> merged version, distinct from parent ->
/// child) and head's rollbacks (events, oldest first). The web pages' view, not an API reply.
public struct RegistryLineage {
    public var versions: [VersionSummaryReply]
    public var taskModels: [SVGCharts.LineageTaskModel]
    public var rollbacks: [SVGCharts.LineageRollback]
}

extension Registry {
    public func lineage() throws -> RegistryLineage {
        RegistryLineage(
            versions: try history(),
            taskModels: try provenance.taskModelInputs().map { .init(modelID: $0.modelID, version: $0.version, name: $0.name, task: $0.task) },
            rollbacks: try provenance.rollbackEvents().map { .init(version: $0.version, from: $0.from, at: $0.at) })
    }
}
