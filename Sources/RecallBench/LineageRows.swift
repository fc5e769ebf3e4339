import Foundation
import RecallTensor
import RecallStore

/// `recall-bench lineage HOME --versions N`: grows a registry that real registers started (at
/// least one merged version) to N versions by committing provenance rows directly, each a copy of
/// the last real version (same merged model, inputs and per-layer weights, the task cycling over
/// the tasks seen), through `ProvenanceStore.commitVersion`, the call a register's commit phase
/// makes; no merge runs. Every 40th version branches off ten versions back (as after a rollback),
/// every 25th is gated and every 100th tagged, so the lineage page draws branches, gated nodes and
/// tags. For the web page's render benchmark only: the registry it leaves is not a real one.
func growLineage(home: URL, versions target: Int) throws -> [String: Any] {
    let provenance = try ProvenanceStore(path: home.appendingPathComponent("registry.sqlite"))
    let existing = try provenance.versions()
    guard let template = existing.last(where: { $0.parentVersion != nil }) else {
        throw RecallError(.invalidArgument, "\(home.path): register at least one model first (the rows copy a real merged version)")
    }
    let detail = try provenance.detail(of: template.number)
    let tasks = Array(Set(existing.compactMap(\.task))).sorted()
    let start = now()
    var last = existing.last!.number
    var added = 0
    while last < target {
        let n = last + 1
        let parent = n % 40 == 0 ? max(1, n - 10) : last
        let gated = n % 25 == 0
        let v = try provenance.commitVersion(modelID: template.modelID, parent: parent, task: tasks.isEmpty ? nil : tasks[n % tasks.count],
                                             method: template.method, optionsJSON: template.optionsJSON, message: "bench row",
                                             detail: detail, gated: gated, gateReason: gated ? "bench: a task fell 2.0 points" : nil)
        if n % 100 == 0 { try provenance.tag("bench-\(n)", version: v.number) }
        last = v.number
        added += 1
    }
    return ["versions": last, "added": added, "seconds": now() - start]
}
