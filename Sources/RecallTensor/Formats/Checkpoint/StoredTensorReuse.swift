import Foundation

/// A content-addressed store of tensor chunks (RecallStore's BlobStore). Formats, models and
/// merges only need to know one store from another, to say which of their tensors it already holds.
public protocol ChunkStore: AnyObject {}

/// How a stored tensor is rebuilt: its chunks in order and the hash of the whole.
public struct StoredTensor: Equatable, Sendable {
    public let info: TensorInfo
    /// SHA-256 of each chunk (lowercase hex), in order; chunks hold whole elements.
    public let chunks: [String]
    /// SHA-256 of all the tensor's bytes (lowercase hex).
    public let sha256: String

    public init(info: TensorInfo, chunks: [String], sha256: String) {
        self.info = info
        self.chunks = chunks
        self.sha256 = sha256
    }
}

/// A tensor source some of whose tensors are, byte for byte, tensors already in a blob store
/// (a stored model passed through unchanged: the untouched layers of a LoRA adapter's parent,
/// a merge where no input differs from the base). Putting it into that store reuses their
/// manifest entries: the work is proportional to what changed.
public protocol StoredTensorReuse {
    /// The stored entry `name` is identical to, if it is one of `store`'s.
    func storedTensor(named name: String, in store: any ChunkStore) -> StoredTensor?
}
