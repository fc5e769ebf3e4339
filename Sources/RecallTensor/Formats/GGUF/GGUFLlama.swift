import Foundation

/// A llama-architecture GGUF seen as a Hugging Face `LlamaForCausalLM` checkpoint: tensors under
/// HF names and shapes, dequantised to F32 on request (F32/F16/BF16 tensors keep their type),
/// with the Q/K row permutation of llama.cpp's converter undone, and `config.json` rebuilt from
/// the metadata.
///
/// llama.cpp's converter stores Q and K with the rows of each head reordered for its rotary
/// kernel (it views the rows of a head as `[2, head_dim / 2]` and transposes that to
/// `[head_dim / 2, 2]`, with `n_head` heads for Q and `n_head_kv` for K). HF row
/// `h * D + j * D/2 + i` is therefore GGUF row `h * D + 2 * i + j`.
///
/// Names: `token_embd` -> `model.embed_tokens`, `blk.N.attn_{q,k,v,output}` ->
/// `model.layers.N.self_attn.{q,k,v,o}_proj`, `blk.N.ffn_{gate,up,down}` -> `...mlp.*_proj`,
/// `blk.N.attn_norm` -> `input_layernorm`, `blk.N.ffn_norm` -> `post_attention_layernorm`,
/// `output_norm` -> `model.norm`, `output` -> `lm_head` (absent: tied embeddings).
public final class GGUFLlamaModel: TensorSource, @unchecked Sendable {
    public let file: GGUFFile
    public let hyperparameters: GGUFLlamaHyperparameters
    public let infos: [TensorInfo]
    private let sources: [String: Source]

    static let layerParts: [(gguf: String, hf: String)] = [
        ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"), ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
        ("ffn_down", "mlp.down_proj"), ("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
    ]
    static let globalParts: [String: String] = [
        "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight",
    ]

    public convenience init(url: URL) throws { try self.init(file: try GGUFFile(url: url)) }

    public init(file: GGUFFile) throws {
        self.file = file
        var h = try GGUFLlamaHyperparameters(llamaMetadataOf: file)
        let sources = try Self.mapTensors(of: file, hyperparameters: h)
        try Self.checkShapes(sources, path: file.url.path, hyperparameters: &h)
        hyperparameters = h
        self.sources = sources
        infos = Self.hfOrder(sources, layers: h.numHiddenLayers, tied: h.tieWordEmbeddings).map { n in
            let s = sources[n]!
            return TensorInfo(name: n, dtype: Self.outputDType(of: s.info.type), shape: s.info.shape)
        }
    }

    /// A GGUF tensor behind an HF name, and the head count to undo the Q/K permutation with.
    typealias Source = (info: GGUFTensorInfo, permuteHeads: Int?)

    /// Every tensor under its HF name; anything we cannot place is an error, never silently dropped.
    static func mapTensors(of file: GGUFFile, hyperparameters h: GGUFLlamaHyperparameters) throws -> [String: Source] {
        let path = file.url.path
        var sources: [String: Source] = [:]
        for t in file.tensors {
            if let hf = globalParts[t.name] {
                sources[hf] = (t, nil)
                continue
            }
            if t.name == "rope_freqs.weight" {
                throw RecallError(.unsupported, "\(path): tensor rope_freqs.weight (Llama 3.1 rope scaling) is not supported yet")
            }
            let parts = t.name.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
                  let part = layerParts.first(where: { $0.gguf == parts[2] }),
                  parts[3] == "weight" || (parts[3] == "bias" && !part.gguf.hasSuffix("norm")) else {
                throw RecallError(.unsupported, "\(path): tensor \"\(t.name)\" has no LlamaForCausalLM equivalent; this GGUF is not a plain llama model")
            }
            guard layer < h.numHiddenLayers else {
                throw RecallError(.invalidFile, "\(path): tensor \"\(t.name)\": layer \(layer) but llama.block_count is \(h.numHiddenLayers)")
            }
            let hf = "model.layers.\(layer).\(part.hf).\(parts[3])"
            let permute = part.gguf == "attn_q" ? h.numAttentionHeads : part.gguf == "attn_k" ? h.numKeyValueHeads : nil
            sources[hf] = (t, permute)
        }
        return sources
    }

    /// Checks every tensor's shape against the `llama.*` keys and that biases come as a set;
    /// fills in what only the tensors tell: vocabulary size, tied embeddings, attention biases.
    static func checkShapes(_ sources: [String: Source], path: String, hyperparameters h: inout GGUFLlamaHyperparameters) throws {
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }
        let hidden = h.hiddenSize, layers = h.numHiddenLayers, ffn = h.intermediateSize
        guard let embed = sources["model.embed_tokens.weight"] else { throw bad("missing tensor token_embd.weight") }
        let embShape = embed.info.shape
        guard embShape.count == 2, embShape[1] == hidden else {
            throw RecallError(.mismatch, "\(path): tensor token_embd.weight has shape \(embShape), expected [vocab, \(hidden)]")
        }
        let vocab = embShape[0]
        var expected: [String: [Int]] = [
            "model.embed_tokens.weight": [vocab, hidden], "model.norm.weight": [hidden],
        ]
        let tied = sources["lm_head.weight"] == nil
        if !tied { expected["lm_head.weight"] = [vocab, hidden] }
        let qRows = h.numAttentionHeads * h.headDim, kvRows = h.numKeyValueHeads * h.headDim
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            expected[p + "self_attn.q_proj.weight"] = [qRows, hidden]
            expected[p + "self_attn.k_proj.weight"] = [kvRows, hidden]
            expected[p + "self_attn.v_proj.weight"] = [kvRows, hidden]
            expected[p + "self_attn.o_proj.weight"] = [hidden, qRows]
            expected[p + "mlp.gate_proj.weight"] = [ffn, hidden]
            expected[p + "mlp.up_proj.weight"] = [ffn, hidden]
            expected[p + "mlp.down_proj.weight"] = [hidden, ffn]
            expected[p + "input_layernorm.weight"] = [hidden]
            expected[p + "post_attention_layernorm.weight"] = [hidden]
        }
        // Biases are optional but must come as a set for q/k/v (attention_bias covers o too).
        let biasNames = sources.keys.filter { $0.hasSuffix(".bias") }
        for name in biasNames {
            let w = String(name.dropLast(5)) + ".weight"
            expected[name] = [expected[w]?.first ?? 0]
        }
        for (name, shape) in expected {
            guard let s = sources[name] else {
                let gguf = ggufName(of: name)
                throw bad("missing tensor \(gguf) (needed for \(name))")
            }
            guard s.info.shape == shape else {
                throw RecallError(.mismatch, "\(path): tensor \"\(s.info.name)\" has shape \(s.info.shape) but the llama.* keys imply \(shape)")
            }
            if let heads = s.permuteHeads, shape[0] % (2 * heads) != 0 {
                throw bad("tensor \"\(s.info.name)\": \(shape[0]) rows cannot be split into \(heads) heads of even size")
            }
        }
        let attentionBias = !biasNames.isEmpty
        if attentionBias {
            for l in 0..<layers {
                for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] where sources["model.layers.\(l).self_attn.\(proj).bias"] == nil {
                    throw RecallError(.unsupported, "\(path): layer \(l) has attention biases but not for \(proj); LlamaForCausalLM needs all four or none")
                }
            }
        }
        for name in biasNames where name.contains(".mlp.") {
            throw RecallError(.unsupported, "\(path): MLP biases (\(ggufName(of: name))) are not supported")
        }
        h.vocabSize = vocab
        h.tieWordEmbeddings = tied
        h.attentionBias = attentionBias
    }

    /// HF order: embeddings, layers in order (parts in HF module order), final norm, lm_head.
    static func hfOrder(_ sources: [String: Source], layers: Int, tied: Bool) -> [String] {
        var order: [String] = ["model.embed_tokens.weight"]
        for l in 0..<layers {
            for part in ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight",
                         "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.o_proj.weight",
                         "self_attn.o_proj.bias", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
                         "mlp.up_proj.weight", "mlp.down_proj.weight"] {
                let n = "model.layers.\(l).\(part)"
                if sources[n] != nil { order.append(n) }
            }
        }
        order.append("model.norm.weight")
        if !tied { order.append("lm_head.weight") }
        return order
    }

    /// F32, F16 and BF16 tensors keep their type; everything else becomes F32.
    static func outputDType(of type: GGMLType) -> DType {
        switch type {
        case .f16: return .f16
        case .bf16: return .bf16
        default: return .f32
        }
    }

    static func ggufName(of hf: String) -> String {
        for (g, h) in globalParts where h == hf { return g }
        let parts = hf.split(separator: ".")
        if parts.count >= 5, parts[0] == "model", parts[1] == "layers" {
            let rest = parts[3...].joined(separator: ".")
            for p in layerParts where rest.hasPrefix(p.hf + ".") {
                return "blk.\(parts[2]).\(p.gguf).\(parts.last!)"
            }
        }
        return hf
    }

    public var metadata: [(String, String)] { [("format", "pt"), ("source", "gguf")] }

    /// The GGUF tensor behind an HF name.
    public func ggufTensor(for name: String) -> GGUFTensorInfo? { sources[name]?.info }

    /// Throws for the first tensor (in `infos` order) whose type cannot be dequantised (F64
    /// included: it has no HF dtype here), naming the file, the tensor and the types that can.
    public func checkDequantizable() throws {
        for info in infos { try checkDequantizable(sources[info.name]!.info) }
    }

    func checkDequantizable(_ t: GGUFTensorInfo) throws {
        guard t.type.isDequantizable, t.type != .f64 else {
            throw RecallError(.unsupported, "\(file.url.path): tensor \"\(t.name)\" has type \(t.type.name), which cannot be dequantised (supported: \(GGMLType.dequantizable.filter { $0 != .f64 }.map(\.name).joined(separator: ", ")))")
        }
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let s = sources[name] else {
            throw RecallError(.notFound, "\(file.url.path): no tensor named \"\(name)\"")
        }
        let t = s.info
        let info = TensorInfo(name: name, dtype: Self.outputDType(of: t.type), shape: t.shape)
        try checkDequantizable(t)
        let storage: TensorStorage
        if t.type.floatDType == info.dtype {
            // F32 / F16 / BF16 are used as stored: a view into the file, or one copy to permute.
            if s.permuteHeads == nil { return try file.tensor(t).renamed(name) }
            storage = TensorStorage(copying: file.rawBytes(of: t))
        } else {
            storage = try file.dequantize(t)
        }
        if let heads = s.permuteHeads {
            Self.unpermuteRows(storage, rows: t.shape[0], heads: heads, elementSize: info.dtype.byteSize, elements: t.elementCount)
        }
        return TensorView(info: info, bytes: storage.bytes, owner: storage)
    }

    /// Undoes llama.cpp's Q/K permutation in place: HF row `h*D + j*D/2 + i` <- GGUF row `h*D + 2i + j`.
    static func unpermuteRows(_ storage: TensorStorage, rows: Int, heads: Int, elementSize: Int, elements: Int) {
        let rowBytes = elements / rows * elementSize
        let perHead = rows / heads, half = perHead / 2
        let tmp = UnsafeMutableRawPointer.allocate(byteCount: perHead * rowBytes, alignment: 64)
        defer { tmp.deallocate() }
        for h in 0..<heads {
            let base = storage.pointer + h * perHead * rowBytes
            tmp.copyMemory(from: base, byteCount: perHead * rowBytes)
            for j in 0..<2 {
                for i in 0..<half {
                    (base + (j * half + i) * rowBytes).copyMemory(from: tmp + (2 * i + j) * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }

    /// config.json for `LlamaForCausalLM` (transformers 5 spelling, `rope_parameters`).
    public func configJSON(bosTokenID: Int? = nil, eosTokenID: Int? = nil, padTokenID: Int? = nil) -> JSONValue {
        let h = hyperparameters
        func id(_ v: Int?) -> JSONValue { v.map { .int($0) } ?? .null }
        var rope: [(String, JSONValue)] = [("rope_theta", .number(h.ropeTheta, integer: nil)), ("rope_type", .string("default"))]
        if let f = h.linearRopeFactor {
            rope = [("factor", .number(f, integer: nil)), ("rope_theta", .number(h.ropeTheta, integer: nil)), ("rope_type", .string("linear"))]
        }
        return .object([
            ("architectures", .array([.string("LlamaForCausalLM")])),
            ("attention_bias", .bool(h.attentionBias)),
            ("attention_dropout", .number(0, integer: nil)),
            ("bos_token_id", id(bosTokenID)),
            ("dtype", .string("float32")),
            ("eos_token_id", id(eosTokenID)),
            ("head_dim", .int(h.headDim)),
            ("hidden_act", .string("silu")),
            ("hidden_size", .int(h.hiddenSize)),
            ("initializer_range", .number(0.02, integer: nil)),
            ("intermediate_size", .int(h.intermediateSize)),
            ("max_position_embeddings", .int(h.maxPositionEmbeddings)),
            ("mlp_bias", .bool(false)),
            ("model_type", .string("llama")),
            ("num_attention_heads", .int(h.numAttentionHeads)),
            ("num_hidden_layers", .int(h.numHiddenLayers)),
            ("num_key_value_heads", .int(h.numKeyValueHeads)),
            ("pad_token_id", id(padTokenID)),
            ("pretraining_tp", .int(1)),
            ("rms_norm_eps", .number(h.rmsNormEps, integer: nil)),
            ("rope_parameters", .object(rope)),
            ("tie_word_embeddings", .bool(h.tieWordEmbeddings)),
            ("use_cache", .bool(true)),
            ("vocab_size", .int(h.vocabSize)),
        ])
    }
}
