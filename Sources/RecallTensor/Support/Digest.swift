import Crypto
import Foundation

/// SHA-256 helpers: content hashes of tensors, chunks and files.
public enum ContentHash {
    /// Lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    public static func sha256Hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

extension TensorView {
    /// Lowercase hex SHA-256 of the raw bytes.
    public var sha256: String { ContentHash.sha256Hex(bytes) }
}
