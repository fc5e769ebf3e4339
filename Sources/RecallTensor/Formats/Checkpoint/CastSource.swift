import Foundation

/// `base` with every float tensor converted to `dtype` when it is asked for (others as they
/// are): a GGUF file registered as a task model is dequantised straight into the base's dtype
/// as the store reads it, with no imported copy on disk.
public final class CastSource: TensorSource, @unchecked Sendable {
    public let base: TensorSource
    public let dtype: DType
    public let infos: [TensorInfo]

    public init(_ base: TensorSource, to dtype: DType) {
        precondition(dtype.isComputeFloat, "CastSource converts to F32, F16 or BF16, not \(dtype)")
        self.base = base
        self.dtype = dtype
        infos = base.infos.map { $0.dtype.isComputeFloat ? TensorInfo(name: $0.name, dtype: dtype, shape: $0.shape) : $0 }
    }

    public var metadata: [(String, String)] { base.metadata }

    public func tensor(named name: String) throws -> TensorView { try base.tensor(named: name).converted(to: dtype) }
}
