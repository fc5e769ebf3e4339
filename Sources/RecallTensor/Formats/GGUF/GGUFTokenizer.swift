import Foundation

/// The tokenizer files of an HF directory, rebuilt from a GGUF's `tokenizer.ggml.*` metadata.
public struct GGUFTokenizerFiles: Sendable {
    /// `tokenizer.json` (HF `tokenizers` format).
    public var tokenizerJSON: JSONValue
    /// `tokenizer_config.json` (special tokens, `add_bos_token`, chat template).
    public var tokenizerConfigJSON: JSONValue
    /// `special_tokens_map.json`.
    public var specialTokensMapJSON: JSONValue
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?
    public var unknownTokenID: Int?
}

/// Rebuilds `tokenizer.json` from `tokenizer.ggml.*`, the way transformers' GGUF converter does,
/// with the pre-tokenizer of the original model as llama.cpp names it in `tokenizer.ggml.pre`.
///
/// Supported: `tokenizer.ggml.model = gpt2` (byte-level BPE). Tokens are the vocabulary (a token
/// with characters outside the byte-level alphabet is respelled from its UTF-8 bytes, as
/// transformers does); `merges` ("a b") are the merges; `token_type` 3 (control) tokens become
/// special added tokens and 4 (user-defined) plain added tokens; the bos/eos/unk/pad ids name
/// the special tokens; `add_bos_token` / `add_eos_token` choose the post-processor.
public enum GGUFTokenizerBuilder {
    /// GPT-2's pre-tokenizer regex is ByteLevel's own (`use_regex: true`).
    static let llama3Split = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Split = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    enum PreTokenizer { case gpt2, digitsThenGPT2, split(String, ignoreMerges: Bool) }

    /// `tokenizer.ggml.pre` values (llama.cpp's names) and the pre-tokenizer each stands for.
    static let preTokenizers: [String: PreTokenizer] = {
        var m: [String: PreTokenizer] = [:]
        for n in ["default", "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "roberta-bpe", "olmo", "jais", "poro-chat", "viking"] { m[n] = .gpt2 }
        // llama.cpp: "\p{N}" first, then GPT-2's regex (HF: Digits(individual) + ByteLevel).
        for n in ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"] { m[n] = .digitsThenGPT2 }
        for n in ["llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "smaug-bpe", "dbrx"] { m[n] = .split(llama3Split, ignoreMerges: true) }
        for n in ["qwen2", "deepseek-r1-qwen", "megrez"] { m[n] = .split(qwen2Split, ignoreMerges: false) }
        return m
    }()

    /// GPT-2's byte -> printable character table (`bytes_to_unicode`).
    static let byteAlphabet: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var extra = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            table[b] = Character(Unicode.Scalar(UInt32(printable ? b : 256 + extra))!)
            if !printable { extra += 1 }
        }
        return table
    }()
    static let alphabetSet = Set(byteAlphabet)

    static func respell(_ token: String) -> String {
        if token.allSatisfy({ alphabetSet.contains($0) }) { return token }
        return String(token.utf8.map { byteAlphabet[Int($0)] })
    }

    /// Whose reading of `tokenizer.ggml.pre` the rebuilt tokenizer follows.
    public enum Compatibility: String, Sendable, CaseIterable {
        /// llama.cpp's, which is also the model's original HF tokenizer (default): the digits-first
        /// family (`smollm`, `starcoder`, ...) splits every `\p{N}` character before byte-level BPE.
        case llamaCpp = "llama.cpp"
        /// transformers' GGUF conversion, which drops that split: ASCII digits come out the same
        /// (they never merge in these vocabularies), but other numerals (½, ², ٣) can merge with
        /// their neighbours. For ids identical to a `gguf_file=` load in transformers.
        case transformers
    }

    public static func build(from file: GGUFFile, modelMaxLength: Int? = nil,
                             compatibility: Compatibility = .llamaCpp) throws -> GGUFTokenizerFiles {
        let m = try TokenizerMetadata(file: file, compatibility: compatibility)
        // Vocabulary: a respelled duplicate overrides the earlier id, as a Python dict would.
        var idOf: [String: Int] = [:]
        idOf.reserveCapacity(m.tokens.count)
        for (i, t) in m.tokens.enumerated() { idOf[respell(t)] = i }
        let vocab: [(String, JSONValue)] = idOf.sorted { $0.value < $1.value }.map { ($0.key, .int($0.value)) }
        let merges = try mergesJSON(m.merges, path: file.url.path)
        let added = addedTokens(m, idOf: idOf)
        let addedTokensJSON: [JSONValue] = added.keys.sorted().map { id in
            .object([
                ("id", .int(id)), ("content", .string(m.tokens[id])), ("single_word", .bool(false)),
                ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                ("special", .bool(added[id]!)),
            ])
        }
        let (preTokenizer, ignoreMerges) = preTokenizerJSON(m.pre)

        let tokenizer = JSONValue.object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(addedTokensJSON)),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", postProcessorJSON(m)),
            ("decoder", byteLevel(true, true, true)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                ("continuing_subword_prefix", .string("")), ("end_of_word_suffix", .string("")),
                ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)), ("ignore_merges", .bool(ignoreMerges)),
                ("vocab", .object(vocab)), ("merges", .array(merges)),
            ])),
        ])
        let config = tokenizerConfigJSON(m, added: added, chatTemplate: file["tokenizer.chat_template"]?.stringValue,
                                         modelMaxLength: modelMaxLength)
        var map: [(String, JSONValue)] = []
        for (key, id) in [("bos_token", m.bos), ("eos_token", m.eos), ("pad_token", m.pad), ("unk_token", m.unk)] {
            if let id { map.append((key, .string(m.tokens[id]))) }
        }
        return GGUFTokenizerFiles(tokenizerJSON: tokenizer, tokenizerConfigJSON: config,
                                  specialTokensMapJSON: .object(map), bosTokenID: m.bos, eosTokenID: m.eos,
                                  padTokenID: m.pad, unknownTokenID: m.unk)
    }

    /// The `tokenizer.ggml.*` keys, checked: a supported model and pre-tokenizer, one type per
    /// token, special token ids inside the vocabulary.
    struct TokenizerMetadata {
        var pre: PreTokenizer
        var tokens: [String]
        /// `token_type` per token, or empty when the file has none.
        var types: [Int]
        var merges: [String]
        var bos, eos, unk, pad: Int?
        var addBOS, addEOS: Bool?

        init(file: GGUFFile, compatibility: Compatibility) throws {
            let path = file.url.path
            func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }
            guard let model = file["tokenizer.ggml.model"]?.stringValue else {
                throw RecallError(.notFound, "\(path): no tokenizer (missing key tokenizer.ggml.model)")
            }
            guard model == "gpt2" else {
                throw RecallError(.unsupported, "\(path): tokenizer.ggml.model \"\(model)\" is not supported yet (supported: gpt2, byte-level BPE)")
            }
            let preName = file["tokenizer.ggml.pre"]?.stringValue ?? "default"
            guard var pre = preTokenizers[preName] else {
                throw RecallError(.unsupported, "\(path): tokenizer.ggml.pre \"\(preName)\" is not supported (supported: \(preTokenizers.keys.sorted().joined(separator: ", ")))")
            }
            if compatibility == .transformers, case .digitsThenGPT2 = pre { pre = .gpt2 }
            self.pre = pre
            guard let tokens = file["tokenizer.ggml.tokens"]?.stringArray else { throw bad("tokenizer.ggml.tokens is missing or not an array of strings") }
            guard !tokens.isEmpty else { throw bad("tokenizer.ggml.tokens is empty") }
            self.tokens = tokens
            types = []
            if let tt = file["tokenizer.ggml.token_type"] {
                guard let a = tt.intArray, a.count == tokens.count else {
                    throw bad("tokenizer.ggml.token_type must be \(tokens.count) integers, one per token")
                }
                types = a
            }
            guard let mergeList = file["tokenizer.ggml.merges"]?.stringArray else { throw bad("tokenizer.ggml.merges is missing or not an array of strings") }
            merges = mergeList
            func tokenID(_ key: String) throws -> Int? {
                guard let v = file["tokenizer.ggml.\(key)"] else { return nil }
                guard let i = v.intValue, i >= 0, i < tokens.count else {
                    throw bad("tokenizer.ggml.\(key) = \(v.jsonValue.serialized()) is not a token id (vocabulary has \(tokens.count))")
                }
                return i
            }
            bos = try tokenID("bos_token_id")
            eos = try tokenID("eos_token_id")
            unk = try tokenID("unknown_token_id")
            pad = try tokenID("padding_token_id")
            addBOS = file["tokenizer.ggml.add_bos_token"]?.boolValue
            addEOS = file["tokenizer.ggml.add_eos_token"]?.boolValue
        }
    }

    /// `merges` as `tokenizer.json` pairs; each entry must be two tokens and one space.
    static func mergesJSON(_ mergeList: [String], path: String) throws -> [JSONValue] {
        var merges: [JSONValue] = []
        merges.reserveCapacity(mergeList.count)
        for (k, m) in mergeList.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw RecallError(.invalidFile, "\(path): tokenizer.ggml.merges[\(k)] = \"\(m)\" is not two tokens separated by one space")
            }
            merges.append(.array([.string(String(parts[0])), .string(String(parts[1]))]))
        }
        return merges
    }

    /// Added tokens (id -> special): control tokens spelled in the byte alphabet are special;
    /// user-defined tokens are added unspecial; the named special tokens are special whatever
    /// their type.
    static func addedTokens(_ m: TokenizerMetadata, idOf: [String: Int]) -> [Int: Bool] {
        var added: [Int: Bool] = [:]
        for (i, t) in m.types.enumerated() {
            if t == 3, m.tokens[i].allSatisfy({ alphabetSet.contains($0) }) { added[i] = true }
            if t == 4, idOf[m.tokens[i]] != nil, added[i] == nil { added[i] = false }
        }
        for id in [m.bos, m.eos, m.unk, m.pad].compactMap({ $0 }) { added[id] = true }
        return added
    }

    static func byteLevel(_ prefix: Bool, _ trim: Bool, _ regex: Bool) -> JSONValue {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(prefix)),
                 ("trim_offsets", .bool(trim)), ("use_regex", .bool(regex))])
    }

    /// The `pre_tokenizer` of `tokenizer.json`, and whether the BPE model ignores merges.
    static func preTokenizerJSON(_ pre: PreTokenizer) -> (JSONValue, ignoreMerges: Bool) {
        switch pre {
        case .gpt2:
            return (byteLevel(false, true, true), false)
        case .digitsThenGPT2:
            return (.object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Digits")), ("individual_digits", .bool(true))]),
                byteLevel(false, true, true),
            ]))]), false)
        case let .split(regex, ignore):
            return (.object([("type", .string("Sequence")), ("pretokenizers", .array([
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])),
                         ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                byteLevel(false, false, false),
            ]))]), ignore)
        }
    }

    /// ByteLevel, or a template adding bos / eos when `add_bos_token` / `add_eos_token` ask for them.
    static func postProcessorJSON(_ m: TokenizerMetadata) -> JSONValue {
        let tokens = m.tokens
        let prefix = m.addBOS == true ? m.bos.map { [$0] } ?? [] : []
        let suffix = m.addEOS == true ? m.eos.map { [$0] } ?? [] : []
        guard !prefix.isEmpty || !suffix.isEmpty else { return byteLevel(true, false, true) }
        func pieces(_ ids: [Int], _ type: Int) -> [JSONValue] {
            ids.map { .object([("SpecialToken", .object([("id", .string(tokens[$0])), ("type_id", .int(type))]))]) }
        }
        func seq(_ id: String, _ type: Int) -> JSONValue { .object([("Sequence", .object([("id", .string(id)), ("type_id", .int(type))]))]) }
        let single = pieces(prefix, 0) + [seq("A", 0)] + pieces(suffix, 0)
        let pair = single + pieces(prefix, 1) + [seq("B", 1)] + pieces(suffix, 1)
        let specials: [(String, JSONValue)] = Set(prefix + suffix).sorted().map { id in
            (tokens[id], .object([("id", .string(tokens[id])), ("ids", .array([.int(id)])), ("tokens", .array([.string(tokens[id])]))]))
        }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)),
                        ("pair", .array(pair)), ("special_tokens", .object(specials))])
    }

    /// `tokenizer_config.json`.
    static func tokenizerConfigJSON(_ m: TokenizerMetadata, added: [Int: Bool], chatTemplate: String?, modelMaxLength: Int?) -> JSONValue {
        let tokens = m.tokens
        func name(_ id: Int?) -> JSONValue { id.map { .string(tokens[$0]) } ?? .null }
        var config: [(String, JSONValue)] = []
        if let addBOS = m.addBOS { config.append(("add_bos_token", .bool(addBOS))) }
        if let addEOS = m.addEOS { config.append(("add_eos_token", .bool(addEOS))) }
        config.append(("add_prefix_space", .bool(false)))
        config.append(("added_tokens_decoder", .object(added.keys.sorted().map { id in
            (String(id), .object([("content", .string(tokens[id])), ("lstrip", .bool(false)), ("normalized", .bool(false)),
                                  ("rstrip", .bool(false)), ("single_word", .bool(false)), ("special", .bool(added[id]!))]))
        })))
        config.append(("bos_token", name(m.bos)))
        if let chatTemplate { config.append(("chat_template", .string(chatTemplate))) }
        config.append(("clean_up_tokenization_spaces", .bool(false)))
        config.append(("eos_token", name(m.eos)))
        if let modelMaxLength { config.append(("model_max_length", .int(modelMaxLength))) }
        config.append(("pad_token", name(m.pad)))
        config.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        config.append(("unk_token", name(m.unk)))
        return .object(config)
    }
}
