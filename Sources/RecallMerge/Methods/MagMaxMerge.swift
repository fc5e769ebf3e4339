import Foundation
import RecallTensor

/// MagMax (Marczak et al., ECCV 2024): per parameter, the task vector of largest magnitude,
///
///     θ = θ0 + λ τ[k*],   τ_i = θ_i − θ0,   k* = argmax_i |τ_i[k]|   (the first on ties),
///
/// the standard cheap baseline for sequentially fine-tuned experts (task vectors all taken
/// against the pre-trained model, so each is the cumulative update up to its task).
public struct MagMaxMerge: MergeMethod {
    public let name = "magmax"
    public let needsBase = true
    public let defaultParameters: [String: Double] = ["lambda": 1]
    public let defaultModelParameters: [String: Double?] = [:]
    public var elementwise: Bool { true }

    public init() {}

    public func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = context.base else { throw RecallError(.invalidArgument, "magmax needs a base model") }
        let lambda = Float(context.parameters["lambda"] ?? 1)
        for k in out.indices {
            let b = base[k]
            var best: Float = 0
            for input in context.inputs {
                let d = input.values[k] - b
                if abs(d) > abs(best) { best = d }
            }
            out[k] = best == 0 ? b : b + lambda * best  // zero update: the base's own bits (-0.0 stays)
        }
    }
}
