import Foundation

/// Writes checkpoints: a single safetensors file, or an HF directory that
/// `transformers.from_pretrained` loads (weights, possibly sharded with an index; config.json
/// with its dtype field updated; tokenizer and generation files copied along).
public struct CheckpointWriter {
    /// Convert float tensors to this type (nil keeps each tensor's own).
    public var dtype: DType?
    /// Shard budget in bytes for directories (nil: one file).
    public var maxShardBytes: Int?
    /// Provenance for `__metadata__`.
    public var metadata: [String: String]
    /// Compute the next tensor while the current one is written (`SafeTensorsWriter.prefetch`):
    /// for sources that may be asked from any thread, such as a merge over checkpoint files.
    public var prefetch: Bool

    public init(dtype: DType? = nil, maxShardBytes: Int? = nil, metadata: [String: String] = [:], prefetch: Bool = false) {
        self.dtype = dtype
        self.maxShardBytes = maxShardBytes
        self.metadata = metadata
        self.prefetch = prefetch
    }

    var tensorWriter: SafeTensorsWriter { SafeTensorsWriter(dtype: dtype, metadata: metadata, prefetch: prefetch) }

    /// Writes one safetensors file.
    public func writeFile(_ tensors: [TensorView], to url: URL) throws {
        try tensorWriter.write(tensors, to: url)
    }

    /// Writes an HF model directory into `dir` (created if needed).
    public func writeDirectory(_ tensors: [TensorView], configJSON: JSONValue?, sidecars: [URL], to dir: URL) throws {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        try writeDirectory(infos: tensors.map(\.info), configJSON: configJSON, sidecars: sidecars, to: dir) { byName[$0]! }
    }

    /// Streaming form: each tensor is requested from `tensor` only when it is written.
    public func writeDirectory(infos: [TensorInfo], configJSON: JSONValue?, sidecars: [URL], to dir: URL,
                               tensor: (String) throws -> TensorView) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try tensorWriter.writeSharded(infos: infos, to: dir, maxShardBytes: maxShardBytes, tensor: tensor)
        if var config = configJSON {
            if let dtype, let name = dtype.torchName { config = Self.settingDType(name, in: config) }
            try AtomicFileWriter.write(Array((config.serialized(pretty: true) + "\n").utf8),
                                       to: dir.appendingPathComponent("config.json"))
        }
        for src in sidecars {
            let dst = dir.appendingPathComponent(src.lastPathComponent)
            if src.standardizedFileURL == dst.standardizedFileURL { continue }
            try? fm.removeItem(at: dst)
            do { try fm.copyItem(at: src, to: dst) } catch {
                throw RecallError(.io, "\(dst.path): cannot copy \(src.lastPathComponent) (\(error.localizedDescription))")
            }
        }
    }

    /// Writes all tensors of `source`, as a file when `out` ends in `.safetensors` and no shard
    /// budget is set, else as an HF directory. Tensors are pulled one at a time.
    public func write(_ source: TensorSource, configJSON: JSONValue?, sidecars: [URL], to out: URL) throws {
        if out.pathExtension == "safetensors" && maxShardBytes == nil {
            try tensorWriter.write(infos: source.infos, to: out, tensor: source.tensor(named:))
        } else {
            try writeDirectory(infos: source.infos, configJSON: configJSON, sidecars: sidecars, to: out, tensor: source.tensor(named:))
        }
    }

    /// Writes a checkpoint (see `write(_:configJSON:sidecars:to:)`).
    public func write(_ checkpoint: Checkpoint, to out: URL) throws {
        try write(checkpoint.weights, configJSON: checkpoint.configJSON, sidecars: checkpoint.sidecarFiles, to: out)
    }

    /// config.json with `torch_dtype` (and transformers 5's `dtype`, when present) set to `name`.
    static func settingDType(_ name: String, in config: JSONValue) -> JSONValue {
        guard var members = config.objectValue else { return config }
        var found = false
        for i in members.indices where members[i].0 == "torch_dtype" || members[i].0 == "dtype" {
            members[i].1 = .string(name)
            found = true
        }
        if !found { members.append(("torch_dtype", .string(name))) }
        return .object(members)
    }
}

/// Parses sizes such as `2GB`, `500MB`, `20KB`, `1.5GiB` or a plain byte count.
public func parseByteSize(_ text: String) -> Int? {
    let s = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [
        ("KIB", 1024), ("MIB", 1024 * 1024), ("GIB", 1024 * 1024 * 1024), ("TIB", 1024 * 1024 * 1024 * 1024),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("B", 1),
    ]
    for (suffix, scale) in units where s.hasSuffix(suffix) {
        guard let v = Double(s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v > 0 else { return nil }
        return Int(v * scale)
    }
    guard let v = Int(s), v > 0 else { return nil }
    return v
}
