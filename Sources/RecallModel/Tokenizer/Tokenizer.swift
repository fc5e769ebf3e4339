import Foundation
import RecallTensor

/// A failure to load a tokenizer: one line naming the file and the field.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file's name ("tokenizer.json").
    public internal(set) var file: String
    public let message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    static func plain(_ message: String) -> TokenizerError { TokenizerError(file: "tokenizer.json", message: message) }
}

/// A Hugging Face `tokenizer.json` BPE tokenizer (byte-level like GPT-2 / Llama-3 / Qwen2 / SmolLM2,
/// or character-level with byte_fallback), producing exactly the ids of HF `tokenizers`.
///
/// Pipeline, as in `tokenizers`: added tokens split out of the raw text -> normalizer on the rest ->
/// normalized added tokens split out -> pre-tokenizer -> BPE per piece -> post-processor.
/// Immutable and thread-safe; each `encode` call keeps its own word cache.
public struct Tokenizer: Sendable {
    let core: TokenizerCore

    /// Loads a `tokenizer.json` file.
    public init(contentsOf url: URL) throws {
        try self.init(contentsOf: url, options: TokenizerJSON.Options())
    }

    init(contentsOf url: URL, options: TokenizerJSON.Options) throws {
        let name = url.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError(file: name, message: "cannot read the file (\(error.localizedDescription))")
        }
        try self.init(json: data, name: name, options: options)
    }

    /// Parses `tokenizer.json` bytes; errors name the file as `name`.
    init(json data: Data, name: String, options: TokenizerJSON.Options = TokenizerJSON.Options()) throws {
        do {
            core = try TokenizerCore(json: try TokenizerJSON.parse(data, options: options), config: nil)
        } catch var e as TokenizerError {
            e.file = name
            throw e
        }
    }

    /// Loads a Hugging Face model directory: `tokenizer.json`, plus `tokenizer_config.json` when present
    /// (bos_token / eos_token; add_bos_token / add_eos_token for Llama/Gemma tokenizer classes, which
    /// transformers applies on top of tokenizer.json).
    public init(directory: URL) throws {
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: jsonURL.path) else {
            throw TokenizerError(file: "tokenizer.json", message: "not found in \(directory.path)")
        }
        let base = try Tokenizer(contentsOf: jsonURL)
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            self = base
            return
        }
        let configData: Data
        do {
            configData = try Data(contentsOf: configURL)
        } catch {
            throw TokenizerError(file: "tokenizer_config.json", message: "cannot read the file (\(error.localizedDescription))")
        }
        self = try base.applying(config: configData)
    }

    /// The same from the files' bytes (a model held in a store rather than a directory):
    /// `tokenizer.json`, plus `tokenizer_config.json` when the model has one.
    public init(tokenizerJSON: Data, tokenizerConfig: Data? = nil) throws {
        let base = try Tokenizer(json: tokenizerJSON, name: "tokenizer.json")
        guard let tokenizerConfig else {
            self = base
            return
        }
        self = try base.applying(config: tokenizerConfig)
    }

    private init(core: TokenizerCore) { self.core = core }

    /// This tokenizer with a `tokenizer_config.json`'s special tokens applied.
    private func applying(config data: Data) throws -> Tokenizer {
        let config: TokenizerConfig
        do {
            config = try TokenizerConfig(data: data)
        } catch var e as TokenizerError {
            e.file = "tokenizer_config.json"
            throw e
        }
        return Tokenizer(core: try core.with(config: config))
    }

    /// Token ids of `text`; `addSpecialTokens` applies the post-processor (e.g. a BOS token).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        core.encode(text, addSpecialTokens: addSpecialTokens)
    }

    /// Text of `ids` (unknown ids are skipped, as `tokenizers` does).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        core.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// Id of a token string (added tokens first, then the model vocabulary).
    public func tokenID(_ token: String) -> Int? { core.tokenIDs[token] }

    /// The token string of an id, or nil.
    public func token(forID id: Int) -> String? { core.tokenString(id) }

    /// Number of distinct tokens, added tokens included (`get_vocab_size(with_added_tokens=True)`).
    public var vocabularySize: Int { core.tokenIDs.count }

    public var bosTokenID: Int? { core.bosTokenID }
    public var eosTokenID: Int? { core.eosTokenID }
}

/// What a `tokenizer_config.json` contributes.
struct TokenizerConfig {
    var bosToken: String?
    var eosToken: String?
    var addBOS: Bool?
    var addEOS: Bool?
    var tokenizerClass: String?

    init(data: Data) throws {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data, rejectDuplicateKeys: false)
        } catch let e as JSONParseError {
            throw TokenizerError(file: "tokenizer_config.json", message: "not valid JSON (\(e.description))")
        }
        guard case .object = root else {
            throw TokenizerError(file: "tokenizer_config.json", message: "the top level is not a JSON object")
        }
        func token(_ key: String) -> String? {
            // "bos_token": "<s>" or {"content": "<s>", ...}
            root[key]?.stringValue ?? root[key]?["content"]?.stringValue
        }
        bosToken = token("bos_token")
        eosToken = token("eos_token")
        addBOS = root["add_bos_token"]?.boolValue
        addEOS = root["add_eos_token"]?.boolValue
        tokenizerClass = root["tokenizer_class"]?.stringValue
    }
}

final class TokenizerCore: Sendable {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder
    let addedTokens: [AddedToken]
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    /// Added tokens by id (decode looks here first).
    let addedByID: [Int: String]
    let specialContents: Set<String>
    let tokenIDs: [String: Int]
    let bosTokenID: Int?
    let eosTokenID: Int?

    convenience init(json: TokenizerJSON, config: TokenizerConfig?) throws {
        try self.init(model: json.model, normalizer: json.normalizer, preTokenizer: json.preTokenizer,
                      postProcessor: json.postProcessor, decoder: json.decoder, addedTokens: json.addedTokens,
                      config: config)
    }

    init(model: BPEModel, normalizer: Normalizer?, preTokenizer: PreTokenizer?, postProcessor: PostProcessor?,
         decoder: TokenDecoder, addedTokens: [AddedToken], config: TokenizerConfig?) throws {
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        self.addedTokens = addedTokens
        rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized }) { t in
            normalizer?.apply(t.content) ?? t.content
        }
        var byID: [Int: String] = [:]
        var tokenIDs = model.vocab
        for t in addedTokens {
            byID[t.id] = t.content
            tokenIDs[t.content] = t.id
        }
        addedByID = byID
        specialContents = Set(addedTokens.filter { $0.special && !$0.content.isEmpty }.map(\.content))
        self.tokenIDs = tokenIDs

        // A config token that is not in the vocabulary is ignored (as if absent).
        let bos = config?.bosToken.flatMap { tokenIDs[$0] }
        let eos = config?.eosToken.flatMap { tokenIDs[$0] }

        // transformers' Llama/Gemma fast tokenizers rebuild the post-processor from add_bos_token / add_eos_token.
        var post = postProcessor
        if let config, let cls = config.tokenizerClass,
           ["LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
            "GemmaTokenizer", "GemmaTokenizerFast"].contains(cls),
           config.addBOS != nil || config.addEOS != nil {
            var single: [TemplatePiece] = []
            if config.addBOS ?? true, let bos { single.append(.special([bos])) }
            single.append(.sequence)
            if config.addEOS ?? false, let eos { single.append(.special([eos])) }
            post = PostProcessor(steps: [.template(single: single)])
        }
        self.postProcessor = post

        func known(_ names: [String]) -> Int? { names.lazy.compactMap { tokenIDs[$0] }.first }
        bosTokenID = bos ?? post?.leadingSpecial ?? known(["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"])
        eosTokenID = eos ?? post?.trailingSpecial ?? known(["</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"])
    }

    func with(config: TokenizerConfig) throws -> TokenizerCore {
        try TokenizerCore(model: model, normalizer: normalizer, preTokenizer: preTokenizer, postProcessor: postProcessor,
                          decoder: decoder, addedTokens: addedTokens, config: config)
    }

    func tokenString(_ id: Int) -> String? {
        if let s = addedByID[id] { return s }
        return id >= 0 && id < model.idToToken.count ? model.idToToken[id] : nil
    }

    // MARK: - Encoding

    struct EncodeState {
        var bpe = BPEState()
        var pre = PreTokenizerScratch()
        var pieces: [(Int, Int)] = []
        var splits: [(Int, Int, Int?)] = []
    }

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var arena = Array(text.utf8)
        var state = EncodeState()
        let n = arena.count
        if rawMatcher.isEmpty {
            encodeText(&arena, 0, n, &ids, &state)
        } else {
            var splits: [(Int, Int, Int?)] = []
            arena.withUnsafeBufferPointer { rawMatcher.split($0, into: &splits) }
            for (s, e, id) in splits {
                if let id { ids.append(id) } else { encodeText(&arena, s, e, &ids, &state) }
            }
        }
        return postProcessor?.apply(ids, addSpecialTokens: addSpecialTokens) ?? ids
    }

    /// A part of the text between non-normalized added tokens.
    private func encodeText(_ arena: inout [UInt8], _ a: Int, _ b: Int, _ ids: inout [Int], _ state: inout EncodeState) {
        guard b > a else { return }
        var a = a, b = b
        if let normalizer {
            let normalized = normalizer.apply(String(decoding: arena[a..<b], as: UTF8.self))
            guard !normalized.isEmpty else { return }
            a = arena.count
            arena.append(contentsOf: normalized.utf8)
            b = arena.count
        }
        if normalizedMatcher.isEmpty {
            encodePiece(&arena, a, b, &ids, &state)
            return
        }
        arena.withUnsafeBufferPointer { buf in
            normalizedMatcher.split(UnsafeBufferPointer(rebasing: buf[a..<b]), into: &state.splits)
        }
        let splits = state.splits
        for (s, e, id) in splits {
            if let id { ids.append(id) } else if e > s { encodePiece(&arena, a + s, a + e, &ids, &state) }
        }
    }

    /// Pre-tokenize a normalized piece and run BPE on each word.
    private func encodePiece(_ arena: inout [UInt8], _ a: Int, _ b: Int, _ ids: inout [Int], _ state: inout EncodeState) {
        state.pieces.removeAll(keepingCapacity: true)
        state.pieces.append((a, b))
        preTokenizer?.run(&arena, &state.pieces, scratch: &state.pre)
        arena.withUnsafeBufferPointer { buf in
            for (s, e) in state.pieces {
                model.tokenize(UnsafeBufferPointer(rebasing: buf[s..<e]), into: &ids, state: &state.bpe)
            }
        }
    }

    // MARK: - Decoding

    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let t = tokenString(id) else { continue }
            if skipSpecialTokens && specialContents.contains(t) { continue }
            tokens.append(t)
        }
        return decoder.decode(tokens)
    }
}
