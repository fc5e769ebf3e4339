import Foundation
import RecallTensor

/// A stored checkpoint: every tensor's recipe, plus the metadata it came with.
///
/// `contentHash` names the checkpoint by content alone (tensor names, dtypes, shapes and bytes),
/// so storing the same weights twice yields the same manifest and no new chunks.
public struct Manifest: Equatable, Sendable {
    public let tensors: [StoredTensor]
    /// Files that travel with the weights (config.json, tokenizer files), stored like U8 tensors
    /// named by file name.
    public let files: [StoredTensor]
    public let metadata: [(String, String)]

    public static func == (a: Manifest, b: Manifest) -> Bool {
        a.tensors == b.tensors && a.files == b.files && a.metadata.map { [$0.0, $0.1] } == b.metadata.map { [$0.0, $0.1] }
    }

    public init(tensors: [StoredTensor], files: [StoredTensor] = [], metadata: [(String, String)]) {
        self.tensors = tensors.sorted { $0.info.name < $1.info.name }
        self.files = files.sorted { $0.info.name < $1.info.name }
        self.metadata = metadata
    }

    /// SHA-256 over the canonical listing `name dtype shape sha256` of every tensor, by name.
    public var contentHash: String {
        var text = ""
        for t in tensors {
            text += "\(t.info.name)\t\(t.info.dtype.rawValue)\t\(t.info.shape.map(String.init).joined(separator: ","))\t\(t.sha256)\n"
        }
        for f in files { text += "file:\(f.info.name)\t\(f.sha256)\n" }
        return ContentHash.sha256Hex(Data(text.utf8))
    }

    public var rawBytes: Int { tensors.reduce(0) { $0 + $1.info.byteCount } }

    static func entryJSON(_ list: [StoredTensor]) -> JSONValue {
        .array(list.map { t in
            .object([
                ("name", .string(t.info.name)),
                ("dtype", .string(t.info.dtype.rawValue)),
                ("shape", .array(t.info.shape.map { .int($0) })),
                ("sha256", .string(t.sha256)),
                ("chunks", .array(t.chunks.map { .string($0) })),
            ])
        })
    }

    static func entries(_ json: JSONValue?) throws -> [StoredTensor] {
        guard let list = json?.arrayValue else { throw corrupt() }
        var out: [StoredTensor] = []
        for t in list {
            guard let name = t["name"]?.stringValue, let d = t["dtype"]?.stringValue, let dtype = DType(rawValue: d),
                  let shape = t["shape"]?.arrayValue?.compactMap(\.intValue), let sha = t["sha256"]?.stringValue,
                  let chunks = t["chunks"]?.arrayValue?.compactMap(\.stringValue) else { throw corrupt() }
            out.append(StoredTensor(info: TensorInfo(name: name, dtype: dtype, shape: shape), chunks: chunks, sha256: sha))
        }
        return out
    }

    static func corrupt() -> RecallError { RecallError(.invalidFile, "store manifest is corrupt; verify the store (the `verify` command or POST /v1/verify) for the full list") }

    var json: JSONValue {
        .object([
            ("version", .int(1)),
            ("metadata", .object(metadata.map { ($0.0, .string($0.1)) })),
            ("files", Self.entryJSON(files)),
            ("tensors", Self.entryJSON(tensors)),
        ])
    }

    init(json: JSONValue) throws {
        guard json["version"]?.intValue == 1 else { throw Self.corrupt() }
        self.init(tensors: try Self.entries(json["tensors"]), files: try Self.entries(json["files"] ?? .array([])),
                  metadata: (json["metadata"]?.objectValue ?? []).compactMap { k, v in v.stringValue.map { (k, $0) } })
    }
}
