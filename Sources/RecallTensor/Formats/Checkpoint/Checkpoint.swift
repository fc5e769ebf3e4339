import Foundation

/// A model checkpoint as the user names it: a safetensors file (any extension), a sharded
/// index, or an HF model directory (config.json + weights + tokenizer files).
///
/// `open` decides which by looking at the path, validates the weights, and keeps the files
/// that travel with the weights (`sidecarFiles`: tokenizer, generation config, templates) so
/// they can be carried into every checkpoint written from this one.
public final class Checkpoint: @unchecked Sendable {
    public enum Layout: String, Sendable { case file, sharded, directory }

    /// Files of an HF directory that are not weights but belong with them.
    public static let sidecarNames = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
        "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "added_tokens.json", "tokenizer.model",
    ]

    public let url: URL
    public let layout: Layout
    public let weights: TensorSource
    /// config.json as written (key order kept), when there is one.
    public let configJSON: JSONValue?
    public let configURL: URL?
    public let sidecarFiles: [URL]

    init(url: URL, layout: Layout, weights: TensorSource, configURL: URL?, sidecars: [URL]) throws {
        self.url = url
        self.layout = layout
        self.weights = weights
        self.configURL = configURL
        self.sidecarFiles = sidecars
        if let configURL {
            do {
                configJSON = try JSONValue.parse(try Data(contentsOf: configURL), rejectDuplicateKeys: false)
            } catch {
                throw RecallError(.invalidFile, "\(configURL.path): not valid JSON (\(error))")
            }
        } else {
            configJSON = nil
        }
    }

    /// Opens `url` as a file, sharded index or HF directory.
    public static func open(_ url: URL) throws -> Checkpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw RecallError(.notFound, "\(url.path): no such file or directory")
        }
        let fm = FileManager.default
        if isDir.boolValue {
            let dir = url
            if fm.fileExists(atPath: dir.appendingPathComponent("adapter_config.json").path),
               !fm.fileExists(atPath: dir.appendingPathComponent("config.json").path) {
                throw RecallError(.unsupported, "\(dir.path): is a PEFT adapter directory, not a full model; apply it to its base first (apply-lora) or register it with its base")
            }
            let config = dir.appendingPathComponent("config.json")
            let sidecars = sidecarNames.map { dir.appendingPathComponent($0) }.filter { fm.fileExists(atPath: $0.path) }
            let index = dir.appendingPathComponent("model.safetensors.index.json")
            let single = dir.appendingPathComponent("model.safetensors")
            let weights: TensorSource
            if fm.fileExists(atPath: index.path) {
                weights = try ShardedCheckpoint(indexURL: index)
            } else if fm.fileExists(atPath: single.path) {
                weights = try SafeTensorsFile(url: single)
            } else {
                let candidates = ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
                guard candidates.count == 1 else {
                    throw RecallError(.notFound, "\(dir.path): no model.safetensors or model.safetensors.index.json\(candidates.count > 1 ? " (found \(candidates.count) other .safetensors files; name the index or the file)" : "")")
                }
                weights = try SafeTensorsFile(url: dir.appendingPathComponent(candidates[0]))
            }
            return try Checkpoint(url: dir, layout: .directory, weights: weights,
                                  configURL: fm.fileExists(atPath: config.path) ? config : nil,
                                  sidecars: sidecars)
        }
        if url.lastPathComponent.hasSuffix(".index.json") {
            let dir = url.deletingLastPathComponent()
            let config = dir.appendingPathComponent("config.json")
            let sidecars = sidecarNames.map { dir.appendingPathComponent($0) }.filter { fm.fileExists(atPath: $0.path) }
            return try Checkpoint(url: url, layout: .sharded, weights: try ShardedCheckpoint(indexURL: url),
                                  configURL: fm.fileExists(atPath: config.path) ? config : nil, sidecars: sidecars)
        }
        return try Checkpoint(url: url, layout: .file, weights: try SafeTensorsFile(url: url), configURL: nil, sidecars: [])
    }

    /// True when the weights are split over shards tied by an index.
    public var isSharded: Bool { weights is ShardedCheckpoint }
}
