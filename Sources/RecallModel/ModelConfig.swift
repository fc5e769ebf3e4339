import Foundation
import RecallTensor

/// Rotary position embedding variants we implement.
public enum RopeScaling: Equatable, Sendable {
    case none
    /// Positions divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1's frequency-dependent scaling.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int)

    public var typeName: String {
        switch self {
        case .none: return "default"
        case .linear: return "linear"
        case .llama3: return "llama3"
        }
    }
}

/// The Llama-family architectures (decoder-only, RMSNorm, RoPE, GQA, SwiGLU) we support.
public enum Architecture: String, CaseIterable, Sendable {
    case llama, mistral, qwen2
}

/// What a forward pass needs from `config.json`, decoded with transformers' defaults.
///
/// Both spellings of the rotary settings are read: the legacy `rope_theta` + `rope_scaling`
/// pair and transformers 5's `rope_parameters` object. Unknown model types and unknown rope
/// scaling types are rejected here, at decode time, with the field named.
public struct ModelConfig: Equatable, Sendable {
    public var modelType: String
    public var architecture: Architecture
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v projections (always on for Qwen2, `attention_bias` for Llama/Mistral).
    public var attentionBias: Bool
    /// Bias on the output projection (Llama's `attention_bias` covers o_proj too; Qwen2 has none).
    public var outputProjectionBias: Bool
    public var mlpBias: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// `torch_dtype` (or transformers 5's `dtype`) as written, if any.
    public var dtypeName: String?

    /// Reads and decodes `config.json`.
    public static func load(from url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RecallError(.notFound, "\(url.path): cannot read config (\(error.localizedDescription))")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data, rejectDuplicateKeys: false) } catch {
            throw RecallError(.invalidFile, "\(url.path): not valid JSON (\(error))")
        }
        return try ModelConfig(json: json, source: url.path)
    }

    public init(json: JSONValue, source: String = "config.json") throws {
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(source): \(why)") }
        guard json.objectValue != nil else { throw bad("not a JSON object") }
        guard let type = json["model_type"]?.stringValue else {
            throw bad("missing string field model_type; is this a transformers config.json?")
        }
        guard let arch = Architecture(rawValue: type) else {
            throw RecallError(.unsupported, "\(source): model_type \"\(type)\" is not supported (supported: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        func int(_ key: String) throws -> Int {
            guard let v = json[key], !v.isNull else { throw bad("missing field \(key)") }
            guard let i = v.intValue, i > 0 else { throw bad("field \(key) must be a positive integer") }
            return i
        }
        func optInt(_ key: String) throws -> Int? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let i = v.intValue, i > 0 else { throw bad("field \(key) must be a positive integer") }
            return i
        }
        func double(_ key: String, in obj: JSONValue? = nil) throws -> Double? {
            guard let v = (obj ?? json)[key], !v.isNull else { return nil }
            guard let d = v.doubleValue else { throw bad("field \(key) must be a number") }
            return d
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = json[key], !v.isNull else { return nil }
            guard let b = v.boolValue else { throw bad("field \(key) must be true or false") }
            return b
        }

        modelType = type
        architecture = arch
        hiddenSize = try int("hidden_size")
        numHiddenLayers = try int("num_hidden_layers")
        numAttentionHeads = try int("num_attention_heads")
        numKeyValueHeads = try optInt("num_key_value_heads") ?? numAttentionHeads
        intermediateSize = try int("intermediate_size")
        vocabSize = try int("vocab_size")
        maxPositionEmbeddings = try optInt("max_position_embeddings") ?? 2048
        if let hd = try optInt("head_dim") {
            headDim = hd
        } else {
            guard hiddenSize % numAttentionHeads == 0 else {
                throw bad("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads) and head_dim is not given")
            }
            headDim = hiddenSize / numAttentionHeads
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw bad("num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        rmsNormEps = try double("rms_norm_eps") ?? 1e-6
        tieWordEmbeddings = try bool("tie_word_embeddings") ?? false
        switch arch {
        case .qwen2:
            attentionBias = true
            outputProjectionBias = false
        case .llama, .mistral:
            attentionBias = try bool("attention_bias") ?? false
            outputProjectionBias = attentionBias
        }
        mlpBias = try bool("mlp_bias") ?? false
        bosTokenID = json["bos_token_id"]?.intValue
        if let e = json["eos_token_id"] {
            eosTokenIDs = e.intValue.map { [$0] } ?? (e.arrayValue?.compactMap(\.intValue) ?? [])
        } else {
            eosTokenIDs = []
        }
        dtypeName = json["torch_dtype"]?.stringValue ?? json["dtype"]?.stringValue

        // Rotary settings: transformers 5 nests them in rope_parameters; older files use
        // rope_theta + rope_scaling. When both are present, rope_parameters wins.
        let params = json["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        let scaling = json["rope_scaling"].flatMap { $0.isNull ? nil : $0 }
        ropeTheta = try double("rope_theta", in: params) ?? double("rope_theta") ?? 10000
        let spec = params ?? scaling
        if let spec {
            guard spec.objectValue != nil else { throw bad("rope_parameters/rope_scaling must be an object") }
            let kind = spec["rope_type"]?.stringValue ?? spec["type"]?.stringValue ?? "default"
            let field = params != nil ? "rope_parameters.rope_type" : "rope_scaling.type"
            switch kind {
            case "default":
                ropeScaling = .none
            case "linear":
                guard let f = try double("factor", in: spec), f > 0 else { throw bad("\(field) linear needs a positive factor") }
                ropeScaling = .linear(factor: f)
            case "llama3":
                guard let f = try double("factor", in: spec),
                      let lo = try double("low_freq_factor", in: spec),
                      let hi = try double("high_freq_factor", in: spec),
                      let orig = spec["original_max_position_embeddings"]?.intValue else {
                    throw bad("\(field) llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings")
                }
                ropeScaling = .llama3(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: orig)
            default:
                throw RecallError(.unsupported, "\(source): \(field) \"\(kind)\" is not supported (supported: default, linear, llama3)")
            }
        } else {
            ropeScaling = .none
        }
    }

    /// One line for listings: `llama 30 layers, hidden 576, 9/3 heads x 64, ffn 1536, vocab 49152`.
    public var summary: String {
        var s = "\(modelType): \(numHiddenLayers) layers, hidden \(hiddenSize), heads \(numAttentionHeads)/\(numKeyValueHeads) kv x \(headDim), ffn \(intermediateSize), vocab \(vocabSize)"
        s += ", rope theta \(ropeTheta)"
        if ropeScaling != .none { s += " (\(ropeScaling.typeName))" }
        if tieWordEmbeddings { s += ", tied embeddings" }
        if attentionBias { s += ", qkv bias" }
        return s
    }
}

extension Checkpoint {
    /// The decoded architecture config; throws when there is none or it is unsupported.
    public func modelConfig() throws -> ModelConfig {
        guard let configJSON, let configURL else {
            throw RecallError(.notFound, "\(url.path): no config.json beside the weights; give an HF model directory")
        }
        return try ModelConfig(json: configJSON, source: configURL.path)
    }
}
