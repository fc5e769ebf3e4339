import Foundation
import RecallTensor

/// One input model's view of the tensor being merged, with its resolved parameters.
public struct MergeInput {
    public let values: UnsafeBufferPointer<Float>
    /// Per-model parameters resolved for this tensor (`weight`, `density`, ...).
    public let parameters: [String: Double]
}

/// What a merge method sees for one tensor (or one chunk of it): the base (if the method uses
/// one), the other models, and the global parameters, all already resolved for this tensor; the
/// method only does maths. `seed` is fixed per (merge seed, tensor) so random methods are
/// reproducible.
public struct TensorMergeContext {
    public let tensorName: String
    public let base: UnsafeBufferPointer<Float>?
    public let inputs: [MergeInput]
    public let parameters: [String: Double]
    public let seed: UInt64
    /// Index within the tensor of the first element given (0 for a whole tensor).
    public var offset: Int = 0
    /// Index of the chunk given, for per-chunk survey data.
    public var chunk: Int = 0
    /// What `survey` returned for this tensor; nil when the whole tensor is given and the
    /// method is to survey it itself.
    public var survey: (any Sendable)? = nil
    /// The tensor's shape (given to methods that are not element-wise).
    public var shape: [Int] = []
    /// Every model's update over the base as low-rank factors, when the method asks for them
    /// (`usesLowRankFactors`) and every model has them for this tensor (LoRA adapters applied to
    /// the same base); `inputs` is then empty and nothing dense was read but the base.
    public var factors: [LowRankFactors]? = nil
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
    /// True when each output element depends only on the same element of the inputs and on
    /// what `survey` found, so the engine may hand `merge` any chunk of the tensor (it then
    /// streams small chunks instead of widening whole tensors of every model to F32). Methods
    /// that need the whole tensor at once (slerp's norms) say false.
    var elementwise: Bool { get }
    /// Statistics of the whole tensor a chunk-by-chunk merge needs first (TIES' magnitude
    /// thresholds, DARE's L1 rescale), from read-only passes over `chunks`; handed back to
    /// `merge` as `context.survey`. `models` are the per-model parameters, `parameters` the
    /// global ones. Nil when nothing is needed.
    func survey(_ chunks: TensorChunks, models: [[String: Double]], parameters: [String: Double], seed: UInt64) throws -> (any Sendable)?
    /// True when the method can work from every model's low-rank factors (`context.factors`).
    var usesLowRankFactors: Bool { get }
    /// Refuses unknown global parameters and bad values in one line naming the option (methods
    /// that check theirs; the default accepts everything, as mergekit does).
    func checkParameters(_ parameters: [String: Double]) throws
}

extension MergeMethod {
    public var elementwise: Bool { false }
    public func survey(_ chunks: TensorChunks, models: [[String: Double]], parameters: [String: Double], seed: UInt64) throws -> (any Sendable)? { nil }
    public var usesLowRankFactors: Bool { false }
    public func checkParameters(_ parameters: [String: Double]) throws {}
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
        MagMaxMerge(),
        IsoCMerge(),
        IsoCTSMerge(),
        TSVMerge(),
    ]

    public static func named(_ name: String) throws -> MergeMethod {
        guard let m = all.first(where: { $0.name == name }) else {
            throw RecallError(.unsupported, "merge method \"\(name)\" is not known (known: \(all.map(\.name).joined(separator: ", ")))")
        }
        return m
    }
}
