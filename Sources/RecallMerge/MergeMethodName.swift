import Foundation
import RecallTensor

/// The merge method a registry uses (`settings.method`) and a version records (`versions.method`).
///
/// A struct over the name rather than an enum: the mergekit-style methods are a table
/// (`MergeMethods.all`) that grows by adding an entry, and an enum would repeat that table by
/// hand and drift from it. The name is still checked against the known set when made, so
/// typed code never holds a name no code knows and a stored row with one is damage.
public struct MergeMethodName: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Nil for a name that is not in `known`.
    public init?(rawValue: String) {
        guard Self.known.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    private init(checked name: String) { rawValue = name }

    /// What version 1 records: the base model itself, no merge.
    public static let base = MergeMethodName(checked: "base")
    public static let recall = MergeMethodName(checked: "recall")
    public static let regmean = MergeMethodName(checked: "regmean")
    public static let opcm = MergeMethodName(checked: "opcm")

    /// `base`, the methods `MergePlan` plans itself, then every `MergeMethods.all` name.
    public static let known: [String] = ["base", "recall", "regmean", "opcm"] + MergeMethods.all.map(\.name)

    /// Reads a name given at an edge; an unknown one is one line listing the known names.
    public static func parse(_ text: String) throws -> MergeMethodName {
        guard let name = MergeMethodName(rawValue: text) else {
            throw RecallError(.invalidArgument, "merge method '\(text)' is not known; use one of \(known.joined(separator: ", "))")
        }
        return name
    }

    public var description: String { rawValue }
}
