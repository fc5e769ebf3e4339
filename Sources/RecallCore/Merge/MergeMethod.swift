import Foundation

/// One input model's view of the tensor being merged, with its resolved parameters.
public struct MergeInput {
    public let values: UnsafeBufferPointer<Float>
    /// Per-model parameters resolved for this tensor (`weight`, `density`, ...).
    public let parameters: [String: Double]
}

/// What a merge method sees for one tensor: the base (if the method uses one), the other
/// models, and the global parameters, all already resolved for this tensor; the method only
/// does maths. `seed` is fixed per (merge seed, tensor) so random methods are reproducible.
public struct TensorMergeContext {
    public let tensorName: String
    public let base: UnsafeBufferPointer<Float>?
    public let inputs: [MergeInput]
    public let parameters: [String: Double]
    public let seed: UInt64
}

/// A merge method in the mergekit sense: a name, its parameters with defaults, and a function
/// that merges one tensor.
public protocol MergeMethod: Sendable {
    var name: String { get }
    /// Whether a base model is required (its tensor is `context.base`, not among `inputs`).
    var needsBase: Bool { get }
    /// Global parameters and their defaults.
    var defaultParameters: [String: Double] { get }
    /// Per-model parameters and their defaults (nil = required).
    var defaultModelParameters: [String: Double?] { get }
    /// Writes the merged tensor into `out` (same element count as every input).
    func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws
    /// True when each output element depends only on the same element of the inputs, so the
    /// engine may hand `merge` any slice of the tensor (it then streams small chunks instead of
    /// widening whole tensors of every model to F32). Methods that need the whole tensor
    /// (magnitude top-k, seeded drops, norms) say false.
    var elementwise: Bool { get }
}

extension MergeMethod {
    public var elementwise: Bool { false }
}

/// The methods by name.
public enum MergeMethods {
    public static let all: [MergeMethod] = [
        LinearMerge(),
        GeneralizedTaskArithmetic.taskArithmetic,
        GeneralizedTaskArithmetic.ties,
        GeneralizedTaskArithmetic.dareLinear,
        GeneralizedTaskArithmetic.dareTies,
        SlerpMerge(),
    ]

    public static func named(_ name: String) throws -> MergeMethod {
        guard let m = all.first(where: { $0.name == name }) else {
            throw RecallError(.unsupported, "merge method \"\(name)\" is not known (known: \(all.map(\.name).joined(separator: ", ")))")
        }
        return m
    }
}
