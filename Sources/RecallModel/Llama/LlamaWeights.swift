import Foundation
import RecallTensor

/// A linear layer's weights as stored: `weight` is `[out x in]` (HF `nn.Linear`), `bias` `[out]`.
struct LinearWeights {
    let weight: TensorView
    let bias: TensorView?
    var outDim: Int { weight.shape[0] }
    var inDim: Int { weight.shape[1] }
}

/// Every HF tensor name of the Llama family (Llama, Mistral, SmolLM2, Qwen2), in one place,
/// and the strict lookup that checks each against the shape the config implies.
///
/// Loading is strict: every tensor the architecture needs must be present, in F32/F16/BF16,
/// with exactly the expected shape, or `init` fails naming the tensor and both shapes. Tensors
/// the forward pass does not use (e.g. `model.layers.N.self_attn.rotary_emb.inv_freq`, or
/// `lm_head.weight` when embeddings are tied, which transformers also ignores) are skipped.
/// Nothing is read here beyond the headers: weights stay memory-mapped until a layer runs.
enum LlamaWeightNames {
    static let embedTokens = "model.embed_tokens.weight"
    static let finalNorm = "model.norm.weight"
    static let lmHead = "lm_head.weight"

    static func layer(_ i: Int) -> String { "model.layers.\(i)." }
    static func inputLayerNorm(_ i: Int) -> String { layer(i) + "input_layernorm.weight" }
    static func postAttentionLayerNorm(_ i: Int) -> String { layer(i) + "post_attention_layernorm.weight" }
    /// `proj` is q, k, v or o.
    static func attention(_ i: Int, _ proj: String) -> String { layer(i) + "self_attn.\(proj)_proj" }
    /// `proj` is gate, up or down.
    static func mlp(_ i: Int, _ proj: String) -> String { layer(i) + "mlp.\(proj)_proj" }
}

/// Looks tensors up by name and checks shape and dtype.
struct StrictWeightLoader {
    let source: TensorSource
    let origin: String
    let architecture: String

    func tensor(_ name: String, _ shape: [Int]) throws -> TensorView {
        guard let info = source.info(named: name) else {
            throw RecallError(.notFound, "\(origin): missing tensor \(name) (expected shape \(shape) for this \(architecture) config)")
        }
        guard info.shape == shape else {
            throw RecallError(.mismatch, "\(origin): tensor \(name) has shape \(info.shape), expected \(shape) for this \(architecture) config")
        }
        guard info.dtype.isComputeFloat else {
            throw RecallError(.unsupported, "\(origin): tensor \(name) has dtype \(info.dtype.rawValue); the forward pass reads F32, F16 or BF16")
        }
        return try source.tensor(named: name)
    }

    func linear(_ prefix: String, out: Int, in inDim: Int, bias: Bool) throws -> LinearWeights {
        LinearWeights(weight: try tensor(prefix + ".weight", [out, inDim]),
                      bias: bias ? try tensor(prefix + ".bias", [out]) : nil)
    }
}

extension LlamaAttention {
    init(_ loader: StrictWeightLoader, layer i: Int, config c: ModelConfig, window: Int?) throws {
        let n = LlamaWeightNames.self
        self.init(
            qProj: try loader.linear(n.attention(i, "q"), out: c.numAttentionHeads * c.headDim, in: c.hiddenSize, bias: c.attentionBias),
            kProj: try loader.linear(n.attention(i, "k"), out: c.numKeyValueHeads * c.headDim, in: c.hiddenSize, bias: c.attentionBias),
            vProj: try loader.linear(n.attention(i, "v"), out: c.numKeyValueHeads * c.headDim, in: c.hiddenSize, bias: c.attentionBias),
            oProj: try loader.linear(n.attention(i, "o"), out: c.hiddenSize, in: c.numAttentionHeads * c.headDim, bias: c.outputProjectionBias),
            heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim, hiddenSize: c.hiddenSize,
            attention: CausalAttention(heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim, window: window))
    }
}

extension LlamaMLP {
    init(_ loader: StrictWeightLoader, layer i: Int, config c: ModelConfig) throws {
        let n = LlamaWeightNames.self
        self.init(
            gateProj: try loader.linear(n.mlp(i, "gate"), out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias),
            upProj: try loader.linear(n.mlp(i, "up"), out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias),
            downProj: try loader.linear(n.mlp(i, "down"), out: c.hiddenSize, in: c.intermediateSize, bias: c.mlpBias))
    }
}

extension LlamaTransformerBlock {
    init(_ loader: StrictWeightLoader, layer i: Int, config c: ModelConfig, window: Int?) throws {
        let n = LlamaWeightNames.self
        self.init(
            inputLayerNorm: try loader.tensor(n.inputLayerNorm(i), [c.hiddenSize]),
            attention: try LlamaAttention(loader, layer: i, config: c, window: window),
            postAttentionLayerNorm: try loader.tensor(n.postAttentionLayerNorm(i), [c.hiddenSize]),
            mlp: try LlamaMLP(loader, layer: i, config: c),
            rmsNormEps: Float(c.rmsNormEps))
    }
}

/// The model-level tensors: embeddings, decoder layers, final norm and output projection.
struct LlamaWeights {
    let embedTokens: TensorView
    let layers: [LlamaTransformerBlock]
    let norm: TensorView
    /// `lm_head.weight`, or the embeddings when `tie_word_embeddings`.
    let lmHead: TensorView

    init(source: TensorSource, config c: ModelConfig, origin: String, windows: [Int?]) throws {
        let loader = StrictWeightLoader(source: source, origin: origin, architecture: c.modelType)
        let n = LlamaWeightNames.self
        embedTokens = try loader.tensor(n.embedTokens, [c.vocabSize, c.hiddenSize])
        layers = try (0..<c.numHiddenLayers).map {
            try LlamaTransformerBlock(loader, layer: $0, config: c, window: windows[$0])
        }
        norm = try loader.tensor(n.finalNorm, [c.hiddenSize])
        lmHead = c.tieWordEmbeddings ? embedTokens : try loader.tensor(n.lmHead, [c.vocabSize, c.hiddenSize])
    }
}

/// Sliding-window attention as transformers configures it, read from config.json (these keys
/// are not part of `ModelConfig`): Mistral applies `sliding_window` (class default 4096 when
/// the key is absent, none when null) to every layer; Qwen2 only when `use_sliding_window`, on
/// the layers `layer_types` marks `sliding_attention` (default: layers >= `max_window_layers`,
/// default 28); Llama never.
func llamaSlidingWindows(config c: ModelConfig, json: JSONValue?) -> [Int?] {
    let none = [Int?](repeating: nil, count: c.numHiddenLayers)
    switch c.architecture {
    case .llama:
        return none
    case .mistral:
        let window: Int?
        if let v = json?["sliding_window"] { window = v.isNull ? nil : v.intValue } else { window = 4096 }
        return [Int?](repeating: window, count: c.numHiddenLayers)
    case .qwen2:
        guard json?["use_sliding_window"]?.boolValue == true else { return none }
        let window: Int?
        if let v = json?["sliding_window"] { window = v.isNull ? nil : v.intValue } else { window = 4096 }
        guard let window else { return none }
        if let types = json?["layer_types"]?.arrayValue, types.count == c.numHiddenLayers {
            return types.map { $0.stringValue == "sliding_attention" ? window : nil }
        }
        let maxWindowLayers = json?["max_window_layers"]?.intValue ?? 28
        return (0..<c.numHiddenLayers).map { $0 >= maxWindowLayers ? window : nil }
    }
}
