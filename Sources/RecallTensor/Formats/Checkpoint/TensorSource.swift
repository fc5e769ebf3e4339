import Foundation

/// Anything that can hand out named tensors: a safetensors file, a sharded set, an HF
/// directory, a GGUF import or a stored version.
///
/// `infos` lists every tensor once, in a deterministic order. `tensor(named:)` returns a view
/// that stays valid for as long as the caller holds it, independent of the source's lifetime.
public protocol TensorSource: AnyObject, Sendable {
    /// Every tensor's name, dtype and shape, in a deterministic order.
    var infos: [TensorInfo] { get }
    /// `__metadata__` or the equivalent, in file order.
    var metadata: [(String, String)] { get }
    /// The tensor named `name`; throws `RecallError(.notFound)` naming the source otherwise.
    func tensor(named name: String) throws -> TensorView
}

extension TensorSource {
    public var tensorNames: [String] { infos.map(\.name) }
    public var totalBytes: Int { infos.reduce(0) { $0 + $1.byteCount } }
    public func info(named name: String) -> TensorInfo? { infos.first { $0.name == name } }
}
