import Foundation
import RecallAPI

/// Backward transfer as FusionBench defines it: at a version that has seen tasks 1..T (in the
/// order they were added), BWT = mean over i < T of (accuracy on task i at that version -
/// accuracy on task i right after task i was added). Negative is forgetting.
///
/// "Right after task i was added" is the first evaluated version (by number) that registered
/// task i; a version sees the tasks added at or before its number. Computed from the API's
/// `/v1/evaluations` reply alone, so a client can check the page's figures from the same numbers.
public enum BackwardTransfer {
    /// BWT of every evaluated version that has seen at least two tasks, by version number.
    public static func byVersion(_ evaluations: EvaluationsReply) -> [Int: Double] {
        let rows = evaluations.versions.sorted { $0.version < $1.version }
        // task -> (version it was added at, its accuracy there), in the order tasks were added.
        var added: [(task: String, version: Int, accuracy: Double)] = []
        for row in rows {
            guard let task = row.task, let a = row.accuracy[task], !added.contains(where: { $0.task == task }) else { continue }
            added.append((task, row.version, a))
        }
        var out: [Int: Double] = [:]
        for row in rows {
            let v = row.version
            let seen = added.filter { $0.version <= v }
            guard seen.count >= 2 else { continue }
            let deltas = seen.dropLast().compactMap { t in row.accuracy[t.task].map { $0 - t.accuracy } }
            if !deltas.isEmpty { out[v] = deltas.reduce(0, +) / Double(deltas.count) }
        }
        return out
    }
}
