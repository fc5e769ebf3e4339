import Foundation
import RecallTensor

/// Weights a forward pass can read without holding a whole model in anonymous memory.
///
/// `LlamaModel` keeps a `TensorView` of every weight. Over a memory-mapped safetensors file that
/// costs nothing (the pages are the file's, given back under pressure); over a source that
/// builds its tensors (a stored model decoded from its chunks, a LoRA adapter applied to one, a
/// lazy merge) it holds every decoded tensor at once: 12.7 GiB anonymous for a 7B-shaped model
/// (BENCHMARKS.md, make bench-scale). Such a source above `budget` bytes is written once, one
/// tensor at a time, to a temporary safetensors file that is mapped and unlinked at once: the
/// model's bytes are then file-backed, and the decode happens once per model opened.
public enum ForwardWeights {
    /// Models at most this large stay in memory (a spill of a small model costs more than it saves).
    public static let defaultBudget = 2 << 30

    /// `source` itself when it is already mapped or small; otherwise its file-backed copy in
    /// `scratch` (removed from the directory before this returns; the mapping keeps the bytes).
    public static func mapped(_ source: TensorSource, scratch: URL, budget: Int = defaultBudget) throws -> TensorSource {
        if source is SafeTensorsFile || source is ShardedCheckpoint || source.totalBytes <= budget { return source }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let url = scratch.appendingPathComponent("forward-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensorsWriter().write(infos: source.infos, to: url) { try source.tensor(named: $0) }
        return try SafeTensorsFile(url: url)
    }
}

extension LlamaModel {
    /// A model over `source` that holds its weights file-backed (`ForwardWeights.mapped`).
    public convenience init(config: ModelConfig, mapping source: TensorSource, scratch: URL,
                            origin: String, budget: Int = ForwardWeights.defaultBudget) throws {
        try self.init(config: config, weights: try ForwardWeights.mapped(source, scratch: scratch, budget: budget), origin: origin)
    }
}
