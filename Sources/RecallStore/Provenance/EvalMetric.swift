import Foundation
import RecallTensor

/// Which score of a task's eval the gate and `history --eval` use. `accuracy` sums each
/// choice's log-probability; `accuracyNorm` (`accuracy_norm`) divides it by the choice's token
/// count. The raw values are what `settings.eval_metric`, `evaluations.metric`, the wire and
/// the CLI spell.
public enum EvalMetric: String, Sendable, CaseIterable {
    case accuracy
    case accuracyNorm = "accuracy_norm"

    /// The allowed spellings, for error messages: `accuracy, accuracy_norm`.
    public static var allowed: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Reads a metric given at an edge (JSON body, query, flag); a bad one is one line naming
    /// `field` and the allowed values.
    public static func parse(_ text: String, field: String = "eval metric") throws -> EvalMetric {
        guard let metric = EvalMetric(rawValue: text) else {
            throw RecallError(.invalidArgument, "\(field) '\(text)' must be one of \(allowed)")
        }
        return metric
    }

    /// This metric's value in a measured score.
    public func value(of score: EvaluationScore) -> Double {
        switch self {
        case .accuracy: return score.accuracy
        case .accuracyNorm: return score.accuracyNormalised
        }
    }
}
