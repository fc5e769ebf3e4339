import Foundation

/// The hyperparameters of a llama-architecture GGUF (`llama.*` keys), as transformers' config
/// names them.
public struct GGUFLlamaHyperparameters: Equatable, Sendable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    /// `llama.rope.scaling.factor` when `llama.rope.scaling.type` is `linear`.
    public var linearRopeFactor: Double?
    public var vocabSize: Int
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
}

extension GGUFLlamaHyperparameters {
    /// The `llama.*` keys of `file`. `vocabSize`, `tieWordEmbeddings` and `attentionBias` come
    /// from the tensors, not the metadata: they are 0, false and false here until
    /// `GGUFLlamaModel` has looked at the tensors.
    init(llamaMetadataOf file: GGUFFile) throws {
        let path = file.url.path
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }
        guard let arch = file.architecture else { throw bad("missing string key general.architecture; is this a model GGUF?") }
        guard arch == "llama" else {
            throw RecallError(.unsupported, "\(path): general.architecture \"\(arch)\" is not supported (supported: llama)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file["llama.\(key)"] else { throw bad("missing key llama.\(key)") }
            guard let i = v.intValue, i > 0 else { throw bad("llama.\(key) must be a positive integer (is \(v.jsonValue.serialized()))") }
            return i
        }
        func optInt(_ key: String) throws -> Int? { file["llama.\(key)"] == nil ? nil : try int(key) }
        func double(_ key: String) throws -> Double? {
            guard let v = file["llama.\(key)"] else { return nil }
            guard let d = v.doubleValue else { throw bad("llama.\(key) must be a number") }
            // A float32 key is written as its shortest decimal (1e-05, not 9.99999974e-06).
            if case let .float32(f) = v { return Double("\(f)") ?? d }
            return d
        }

        let hidden = try int("embedding_length")
        let layers = try int("block_count")
        let heads = try int("attention.head_count")
        // head_count_kv may be an array (one per layer) in some models; llama has one value.
        let kvHeads: Int
        if let v = file["llama.attention.head_count_kv"], let a = v.intArray {
            guard let first = a.first, a.allSatisfy({ $0 == first }), first > 0 else {
                throw RecallError(.unsupported, "\(path): llama.attention.head_count_kv differs between layers, which LlamaForCausalLM cannot express")
            }
            kvHeads = first
        } else {
            kvHeads = try optInt("attention.head_count_kv") ?? heads
        }
        guard heads % kvHeads == 0 else { throw bad("llama.attention.head_count \(heads) is not a multiple of llama.attention.head_count_kv \(kvHeads)") }
        let headDim = try optInt("attention.key_length") ?? optInt("rope.dimension_count") ?? (hidden / heads)
        guard headDim % 2 == 0 else { throw bad("head dimension \(headDim) is odd; rotary embeddings need an even one") }
        let ffn = try int("feed_forward_length")
        let context = try optInt("context_length") ?? 2048
        let eps = try double("attention.layer_norm_rms_epsilon") ?? 1e-5
        let theta = try double("rope.freq_base") ?? 10000
        var linearFactor: Double?
        if let t = file["llama.rope.scaling.type"]?.stringValue, t != "none" {
            guard t == "linear" else {
                throw RecallError(.unsupported, "\(path): llama.rope.scaling.type \"\(t)\" is not supported (supported: none, linear)")
            }
            guard let f = try double("rope.scaling.factor"), f > 0 else { throw bad("llama.rope.scaling.type is linear but llama.rope.scaling.factor is missing") }
            linearFactor = f
        }
        self.init(hiddenSize: hidden, numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads,
                  headDim: headDim, intermediateSize: ffn, maxPositionEmbeddings: context, rmsNormEps: eps,
                  ropeTheta: theta, linearRopeFactor: linearFactor, vocabSize: 0, tieWordEmbeddings: false,
                  attentionBias: false)
    }
}
