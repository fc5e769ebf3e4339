import Foundation

/// `adapter_config.json` of a PEFT LoRA adapter: the fields that decide the merged weights.
public struct LoRAConfig: Sendable {
    public var peftType: String
    /// Default rank `r`.
    public var rank: Int
    /// Default `lora_alpha`.
    public var alpha: Double
    /// `target_modules` as written: a list of names or a regex (informational: the adapter's
    /// tensors say which modules it changes).
    public var targetModules: JSONValue?
    public var useRSLoRA: Bool
    /// Weights stored as (in, out), as GPT-2's Conv1D does.
    public var fanInFanOut: Bool
    public var modulesToSave: [String]
    /// `none`, `all` or `lora_only` (trained biases are carried in the adapter file).
    public var bias: String
    /// Per-module rank / alpha overrides: regex keys, matched as PEFT does against the end of the
    /// module name (`(.*\.)?(KEY)` must match the whole name). First matching key wins.
    public var rankPattern: [(String, Int)]
    public var alphaPattern: [(String, Double)]
    public var baseModelNameOrPath: String?

    public init(json: JSONValue, source: String = "adapter_config.json") throws {
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(source): \(why)") }
        func unsupported(_ why: String) -> RecallError { RecallError(.unsupported, "\(source): \(why)") }
        guard json.objectValue != nil else { throw bad("not a JSON object") }
        guard let type = json["peft_type"]?.stringValue else { throw bad("missing string field peft_type; is this a PEFT adapter_config.json?") }
        guard type == "LORA" else {
            throw unsupported("peft_type \"\(type)\" is not supported (only LORA)")
        }
        peftType = type
        func flag(_ key: String) throws -> Bool {
            guard let v = json[key], !v.isNull else { return false }
            guard let b = v.boolValue else { throw bad("field \(key) must be true or false") }
            return b
        }
        func present(_ key: String) -> Bool {
            guard let v = json[key], !v.isNull else { return false }
            if let a = v.arrayValue { return !a.isEmpty }
            if let o = v.objectValue { return !o.isEmpty }
            return true
        }
        if try flag("use_dora") { throw unsupported("DoRA adapters are not supported (use_dora is true)") }
        if try flag("lora_bias") { throw unsupported("lora_bias adapters are not supported") }
        if try flag("use_qalora") { throw unsupported("QA-LoRA adapters are not supported") }
        if present("layer_replication") { throw unsupported("layer_replication is not supported") }
        if present("trainable_token_indices") { throw unsupported("trainable_token_indices is not supported") }
        if present("target_parameters") { throw unsupported("target_parameters (LoRA on parameters, e.g. MoE experts) is not supported") }

        guard let r = json["r"]?.intValue, r > 0 else { throw bad("field r must be a positive integer") }
        rank = r
        if let a = json["lora_alpha"], !a.isNull {
            guard let d = a.doubleValue else { throw bad("field lora_alpha must be a number") }
            alpha = d
        } else {
            alpha = 8 // PEFT's default
        }
        targetModules = json["target_modules"]
        useRSLoRA = try flag("use_rslora")
        fanInFanOut = try flag("fan_in_fan_out")
        if let m = json["modules_to_save"], !m.isNull {
            guard let list = m.arrayValue?.compactMap(\.stringValue), list.count == m.arrayValue?.count else {
                throw bad("field modules_to_save must be a list of module names")
            }
            modulesToSave = list
        } else {
            modulesToSave = []
        }
        bias = json["bias"]?.stringValue ?? "none"
        guard ["none", "all", "lora_only"].contains(bias) else { throw bad("field bias \"\(bias)\" must be none, all or lora_only") }
        var rp: [(String, Int)] = []
        for (k, v) in json["rank_pattern"]?.objectValue ?? [] {
            guard let i = v.intValue, i > 0 else { throw bad("rank_pattern[\"\(k)\"] must be a positive integer") }
            rp.append((k, i))
        }
        var ap: [(String, Double)] = []
        for (k, v) in json["alpha_pattern"]?.objectValue ?? [] {
            guard let d = v.doubleValue else { throw bad("alpha_pattern[\"\(k)\"] must be a number") }
            ap.append((k, d))
        }
        rankPattern = rp
        alphaPattern = ap
        baseModelNameOrPath = json["base_model_name_or_path"]?.stringValue
        // Validate the pattern keys now, so a bad one is reported up front with its name.
        for key in rp.map(\.0) + ap.map(\.0) {
            guard (try? Regex("(.*\\.)?(\(key))")) != nil else { throw bad("pattern key \"\(key)\" is not a valid regular expression") }
        }
    }

    static func matches(_ key: String, _ module: String) -> Bool {
        guard let re = try? Regex("(.*\\.)?(\(key))") else { return false }
        return (try? re.wholeMatch(in: module)) != nil
    }

    /// The rank PEFT gives `module` (e.g. `model.layers.0.self_attn.q_proj`).
    public func rank(for module: String) -> Int {
        rankPattern.first { Self.matches($0.0, module) }?.1 ?? rank
    }

    public func alpha(for module: String) -> Double {
        alphaPattern.first { Self.matches($0.0, module) }?.1 ?? alpha
    }

    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    public func scaling(for module: String) -> Double {
        let r = Double(rank(for: module)), a = alpha(for: module)
        return useRSLoRA ? a / r.squareRoot() : a / r
    }
}

/// One low-rank update: `W' = W + scaling * B @ A` on the base tensor `target`.
public struct LoRAModule: Sendable, Equatable {
    public enum Layout: String, Sendable {
        /// `nn.Linear`: W is (out, in), A (r, in), B (out, r).
        case linear
        /// Stored transposed: W is (in, out) for Conv1D with `fan_in_fan_out`, or (num, dim) for
        /// `nn.Embedding` (A is (r, num), B (dim, r)); the update is `(B @ A)ᵀ`.
        case transposed
    }
    /// Module name without the PEFT prefix, e.g. `model.layers.0.self_attn.q_proj`.
    public let module: String
    /// The base tensor it changes, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let target: String
    public let loraA: String
    public let loraB: String
    public let rank: Int
    public let scaling: Double
    public let layout: Layout
}

/// A PEFT LoRA adapter directory: `adapter_config.json` + `adapter_model.safetensors`.
///
/// Tensor names in the file are `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`
/// (`lora_embedding_A` / `_B` for embeddings), and whole replacement tensors for
/// `modules_to_save` (peft 0.21 writes `base_model.model.lm_head.weight`; older versions
/// `...lm_head.modules_to_save.weight` or `...modules_to_save.default.weight`), trained
/// biases, and `<module>.base_layer.weight` (the base weight a LoRA'd embedding starts from).
public final class LoRAAdapter: @unchecked Sendable {
    public static let prefix = "base_model.model."

    public let directory: URL
    public let config: LoRAConfig
    public let weights: SafeTensorsFile
    /// Low-rank updates, in module order.
    public let modules: [LoRAModule]
    /// Base tensor name -> adapter tensor name, for tensors the adapter replaces whole.
    public let replacements: [(target: String, tensor: String)]

    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw RecallError(.notFound, "\(directory.path): no such adapter directory")
        }
        let configURL = directory.appendingPathComponent("adapter_config.json")
        guard fm.fileExists(atPath: configURL.path) else {
            throw RecallError(.notFound, "\(directory.path): missing adapter_config.json; is this a PEFT adapter directory?")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(try Data(contentsOf: configURL), rejectDuplicateKeys: false)
        } catch let e as JSONParseError {
            throw RecallError(.invalidFile, "\(configURL.path): not valid JSON (\(e))")
        }
        let config = try LoRAConfig(json: json, source: configURL.path)
        self.config = config
        let weightsURL = directory.appendingPathComponent("adapter_model.safetensors")
        guard fm.fileExists(atPath: weightsURL.path) else {
            if fm.fileExists(atPath: directory.appendingPathComponent("adapter_model.bin").path) {
                throw RecallError(.unsupported, "\(directory.path): adapter_model.bin (pickle) is not supported; re-save the adapter with safe_serialization=True")
            }
            throw RecallError(.notFound, "\(directory.path): missing adapter_model.safetensors")
        }
        let weights = try SafeTensorsFile(url: weightsURL)
        self.weights = weights
        let path = weightsURL.path
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }

        var a: [String: TensorInfo] = [:], b: [String: TensorInfo] = [:]
        var embedding = Set<String>()
        var order: [String] = []
        var replacements: [(String, String)] = []
        for info in weights.infos {
            let name = info.name
            guard name.hasPrefix(Self.prefix) else {
                throw bad("tensor \"\(name)\" does not start with \(Self.prefix); not a PEFT LoRA adapter file")
            }
            let rest = String(name.dropFirst(Self.prefix.count))
            if rest.hasSuffix(".lora_magnitude_vector") || rest.contains(".lora_magnitude_vector.") {
                throw RecallError(.unsupported, "\(path): DoRA adapters are not supported (tensor \"\(name)\")")
            }
            var matched = false
            for (suffix, isA, isEmbedding) in [(".lora_A.weight", true, false), (".lora_B.weight", false, false),
                                                (".lora_embedding_A", true, true), (".lora_embedding_B", false, true)]
                where rest.hasSuffix(suffix) {
                let module = String(rest.dropLast(suffix.count))
                guard info.dtype.isComputeFloat, info.shape.count == 2 else {
                    throw bad("tensor \"\(name)\" must be a 2-D F32/F16/BF16 matrix (is \(info.dtype.rawValue) \(info.shape))")
                }
                if isA { a[module] = info } else { b[module] = info }
                if isEmbedding { embedding.insert(module) }
                if !order.contains(module) { order.append(module) }
                matched = true
                break
            }
            if matched { continue }
            if rest.contains(".lora_") {
                throw RecallError(.unsupported, "\(path): tensor \"\(name)\" is a LoRA part we do not know")
            }
            // Whole tensors: modules_to_save copies, trained biases, and the base weight of an
            // embedding LoRA (`embed_tokens.base_layer.weight`, saved when the vocabulary may
            // have been resized).
            var target = rest
            for marker in [".modules_to_save.default.", ".modules_to_save.", ".base_layer."] {
                if let r = target.range(of: marker) { target.replaceSubrange(r, with: "."); break }
            }
            replacements.append((target, name))
        }

        var modules: [LoRAModule] = []
        for module in order {
            guard let ai = a[module] else { throw bad("module \(module) has lora_B but no lora_A") }
            guard let bi = b[module] else { throw bad("module \(module) has lora_A but no lora_B") }
            let r = ai.shape[0]
            guard bi.shape[1] == r else {
                throw RecallError(.mismatch, "\(path): module \(module): lora_A is \(ai.shape) but lora_B is \(bi.shape); their ranks differ")
            }
            let expected = config.rank(for: module)
            guard expected == r else {
                throw RecallError(.mismatch, "\(path): module \(module) has rank \(r) but adapter_config.json gives it r = \(expected)")
            }
            let emb = embedding.contains(module)
            modules.append(LoRAModule(
                module: module, target: module + ".weight", loraA: ai.name, loraB: bi.name, rank: r,
                scaling: config.scaling(for: module), layout: emb || config.fanInFanOut ? .transposed : .linear))
        }
        self.modules = modules
        self.replacements = replacements
    }
}
