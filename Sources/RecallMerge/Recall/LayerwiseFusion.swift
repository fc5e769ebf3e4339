import Foundation
import RecallTensor

/// Fuses parameters layer by layer with per-layer weights, in task-vector form:
/// theta^l = theta_base^l + lambda * sum_i w_i^l (theta_i^l - theta_base^l).
///
/// Weights are indexed like the representations: layer 0 is the embedding output and layer l
/// (1...L) the output of decoder layer l-1, so decoder layer N's tensors take w^(N+1), the
/// embeddings take w^0, and the final norm and lm_head take w^L. The fusion is the generalized
/// task-arithmetic merge with these weights resolved per tensor (and, for the `ties` option,
/// TIES trimming and sign election applied to the weighted task vectors before summing).
public struct LayerwiseFusion {
    public enum Sparsify: Equatable, Sendable { case none, ties(density: Double) }

    public var lambda: Double
    public var sparsify: Sparsify

    public init(lambda: Double = 2, sparsify: Sparsify = .none) {
        self.lambda = lambda
        self.sparsify = sparsify
    }

    /// Per-tensor weight setting for one model from its per-layer weights `w[0...L]`.
    public static func weightSetting(_ w: [Double]) -> ParameterSetting {
        let last = w.count - 1
        var conditions: [ParameterSetting.Condition] = (0..<last).map {
            .init(filter: "model.layers.\($0).", value: .scalar(w[$0 + 1]))
        }
        conditions.append(.init(filter: "model.norm.", value: .scalar(w[last])))
        conditions.append(.init(filter: "lm_head", value: .scalar(w[last])))
        conditions.append(.init(filter: nil, value: .scalar(w[0])))
        return .conditional(conditions)
    }

    /// The merge configuration that applies `weights[layer][model]` to `models` over `base`.
    public func configuration(base: MergeModel, models: [MergeModel], weights: [[Double]], outputDType: DType? = nil) throws -> MergeConfiguration {
        guard weights.allSatisfy({ $0.count == models.count }) else {
            throw RecallError(.invalidArgument, "layer weights must have one entry per model")
        }
        var inputs = models
        for i in inputs.indices {
            inputs[i].parameters["weight"] = Self.weightSetting(weights.map { $0[i] })
            if case let .ties(density) = sparsify { inputs[i].parameters["density"] = .scalar(density) }
        }
        switch sparsify {
        case .none:
            return MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: inputs,
                                      parameters: ["lambda": .scalar(lambda)], outputDType: outputDType)
        case .ties:
            return MergeConfiguration(method: GeneralizedTaskArithmetic.ties, base: base, models: inputs,
                                      parameters: ["lambda": .scalar(lambda), "normalize": .scalar(0)], outputDType: outputDType)
        }
    }
}
