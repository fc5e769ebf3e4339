import Foundation
import RecallTensor

/// Turns per-layer similarities into per-layer merge weights: w^l = softmax_i(score_i^l / tau).
///
/// Scores: `centrality` (default; the mean similarity of model i to the other models: a model
/// that agrees with the rest carries shared knowledge), `anchorNew` (s(new, i): the paper's
/// figure reads this way; it acts as a recency bias and collapses onto the new model at small
/// tau), `routing` (for each task t, the similarity of model i to t's own expert measured on t's
/// typical samples only, averaged over the tasks: a model is weighted by how well it stands in for
/// each task's specialist where that task's inputs flow). With a single model every weight is 1.
public struct LayerWeighting: Sendable {
    public enum Score: String, Sendable, CaseIterable { case centrality, anchorNew = "anchor-new", routing }

    public var score: Score
    public var temperature: Double
    /// Index of the newest model (for `anchorNew`).
    public var newModel: Int

    public init(score: Score = .centrality, temperature: Double = 0.1, newModel: Int = 0) {
        self.score = score
        self.temperature = temperature
        self.newModel = newModel
    }

    /// `weights[layer][model]`, each row summing to 1.
    public func weights(_ similarities: [[[Double]]]) throws -> [[Double]] {
        guard temperature > 0 else { throw RecallError(.invalidArgument, "tau must be positive") }
        return similarities.map { matrix in
            let m = matrix.count
            guard m > 1 else { return [Double](repeating: 1, count: m) }
            let scores: [Double] = (0..<m).map { i in
                switch score {
                case .centrality: return (0..<m).filter { $0 != i }.map { matrix[i][$0] }.reduce(0, +) / Double(m - 1)
                case .anchorNew: return matrix[newModel][i]
                case .routing: return matrix[newModel][i] // without task groups: routing on the new task alone
                }
            }
            return softmax(scores.map { $0 / temperature })
        }
    }
}

extension LayerWeighting {
    /// Routing weights from per-task similarity matrices: `groups[g]` holds the per-layer matrices
    /// computed on task g's probes and the index of task g's own expert.
    public func routingWeights(_ groups: [(expert: Int, matrices: [[[Double]]])]) throws -> [[Double]] {
        guard temperature > 0 else { throw RecallError(.invalidArgument, "tau must be positive") }
        guard let first = groups.first else { throw RecallError(.invalidArgument, "routing needs probes of at least one task with its expert") }
        let layers = first.matrices.count, m = first.matrices.first?.count ?? 0
        return (0..<layers).map { l in
            guard m > 1 else { return [Double](repeating: 1, count: m) }
            let scores = (0..<m).map { i in groups.map { $0.matrices[l][i][$0.expert] }.reduce(0, +) / Double(groups.count) }
            return softmax(scores.map { $0 / temperature })
        }
    }
}

/// Numerically stable softmax.
public func softmax(_ x: [Double]) -> [Double] {
    guard let top = x.max() else { return [] }
    let e = x.map { exp($0 - top) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
