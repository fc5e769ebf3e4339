import RecallTensor

/// A put met a NaN or infinity in a float tensor. The put stores nothing (the chunks it had
/// committed are discarded, `BlobStore.discardAbandonedChunks`), so every float chunk in the
/// store is finite and a later put that finds a chunk already stored need not scan it again.
/// Callers that know the file add its path and what to do.
public struct NonFiniteTensorError: Error, CustomStringConvertible, Equatable {
    public let tensor: String
    /// The element's index in the tensor (row-major).
    public let element: Int

    public init(tensor: String, element: Int) {
        self.tensor = tensor
        self.element = element
    }

    public var description: String { "tensor \"\(tensor)\" holds a NaN or Inf at element \(element)" }

    /// The one-line error for a model file: its path, the tensor, and what to do.
    public func error(file: String) -> RecallError {
        RecallError(.invalidFile, "\(file): \(description); fix the training run or the export before registering")
    }
}
