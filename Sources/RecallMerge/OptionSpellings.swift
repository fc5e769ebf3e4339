import Foundation
import RecallTensor
import RecallModel

/// `key=value` lists as the command line takes them (`recallctl init --opt`, `merge --param`),
/// parsed in one place so both refuse the same malformed pairs with the same message.
public enum KeyValueOptions {
    /// The pairs as a map; a later pair overrides an earlier one with the same key. A pair
    /// without `=`, or with an empty key or value, is an `invalidArgument` error naming `flag`.
    public static func parse(_ pairs: [String], flag: String, example: String = "tau=0.1") throws -> [String: String] {
        var out: [String: String] = [:]
        for p in pairs {
            let kv = p.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw RecallError(.invalidArgument, "\(flag) '\(p)' must be key=value (e.g. \(example))")
            }
            out[kv[0]] = kv[1]
        }
        return out
    }
}

extension Pooling {
    /// The spelling of the CLI flags and of the `pooling` option: exclude-first, mean, exclude-outliers.
    public init?(argument: String) {
        switch argument {
        case "mean": self = .mean
        case "exclude-first": self = .meanExcludingFirst
        case "exclude-outliers": self = .meanExcludingFirstAndOutliers(ratio: 10)
        default: return nil
        }
    }
}

extension LayerwiseFusion.Sparsify {
    /// `ties:DENSITY` with 0 < DENSITY <= 1 (the `sparsify` option and `merge --sparsify`).
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, parts[0] == "ties", let d = Double(parts[1]), d > 0, d <= 1 else { return nil }
        self = .ties(density: d)
    }
}
