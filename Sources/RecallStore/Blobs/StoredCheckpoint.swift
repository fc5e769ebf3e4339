import Foundation
import RecallTensor

/// A checkpoint held in the store, read tensor by tensor.
public final class StoredCheckpoint: TensorSource, StoredTensorReuse, @unchecked Sendable {
    public let store: BlobStore
    public let hash: String
    public let manifest: Manifest
    public var infos: [TensorInfo] { manifest.tensors.map(\.info) }
    public var metadata: [(String, String)] { manifest.metadata }

    init(store: BlobStore, hash: String, manifest: Manifest) {
        self.store = store
        self.hash = hash
        self.manifest = manifest
    }

    public func storedTensor(named name: String, in store: any ChunkStore) -> StoredTensor? {
        store === self.store ? manifest.tensors.first { $0.info.name == name } : nil
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let t = manifest.tensors.first(where: { $0.info.name == name }) else {
            throw RecallError(.notFound, "stored model \(hash.prefix(12)) has no tensor \"\(name)\"")
        }
        return try store.rebuild(t, in: hash)
    }

    /// Names of the files stored with the weights.
    public var fileNames: [String] { manifest.files.map(\.info.name) }

    /// A stored side file's bytes (verified).
    public func file(named name: String) throws -> Data {
        guard let f = manifest.files.first(where: { $0.info.name == name }) else {
            throw RecallError(.notFound, "stored model \(hash.prefix(12)) has no file \"\(name)\"")
        }
        let view = try store.rebuild(f, in: hash)
        // Copy while the view (and so its storage) is certainly alive.
        return withExtendedLifetime(view) { Data(view.bytes) }
    }

    /// Writes the stored side files into `directory` (config.json last-write-wins by caller).
    public func writeFiles(to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try fileNames.map { name in
            let url = directory.appendingPathComponent(name)
            try AtomicFileWriter.write([UInt8](try file(named: name)), to: url)
            return url
        }
    }
}
