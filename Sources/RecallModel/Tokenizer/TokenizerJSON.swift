import Foundation
import RecallTensor

/// Reads a `tokenizer.json` (HF `tokenizers` serialization) into the pipeline pieces.
/// Errors name the field with a dotted path ("pre_tokenizer.pretokenizers[1].type").
struct TokenizerJSON {
    var model: BPEModel
    var addedTokens: [AddedToken]
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var postProcessor: PostProcessor?
    var decoder: TokenDecoder

    struct Options {
        /// Run every regex on ICU instead of the hand-written scanners (tests compare both).
        var genericRegex = false
    }

    static func parse(_ data: Data, options: Options = Options()) throws -> TokenizerJSON {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data, rejectDuplicateKeys: false)
        } catch let e as JSONParseError {
            throw TokenizerError.plain("not valid JSON (\(e.description))")
        }
        guard case .object = root else { throw TokenizerError.plain("the top level is not a JSON object") }
        guard let modelValue = root["model"], !modelValue.isNull else {
            throw TokenizerError.plain("missing field 'model'")
        }
        guard case .object = modelValue else { throw TokenizerError.plain("model is not an object") }
        if let type = modelValue["type"]?.stringValue, type != "BPE" {
            throw TokenizerError.plain("model.type '\(type)' is not supported (only BPE)")
        }

        var normalizer: Normalizer?
        if let n = root["normalizer"], !n.isNull {
            var steps: [NormalizerStep] = []
            try parseNormalizer(n, path: "normalizer", into: &steps, options)
            normalizer = steps.isEmpty ? nil : Normalizer(steps: steps)
        }

        var preTokenizer: PreTokenizer?
        if let p = root["pre_tokenizer"], !p.isNull {
            var steps: [PreTokenizerStep] = []
            var paths: [String] = []
            try parsePreTokenizer(p, path: "pre_tokenizer", into: &steps, paths: &paths, options)
            for (i, step) in steps.enumerated() where i != steps.count - 1 {
                if case .byteLevel = step {
                    throw TokenizerError.plain("\(paths[i]): ByteLevel is only supported as the last pre-tokenizer")
                }
            }
            preTokenizer = steps.isEmpty ? nil : PreTokenizer(steps: steps)
        }

        let model = try parseModel(modelValue, byteLevel: preTokenizer?.isByteLevel ?? false)

        var added: [AddedToken] = []
        if let list = root["added_tokens"], !list.isNull {
            guard let items = list.arrayValue else { throw TokenizerError.plain("added_tokens is not an array") }
            for (i, item) in items.enumerated() {
                let path = "added_tokens[\(i)]"
                guard let id = item["id"]?.intValue, id >= 0 else { throw TokenizerError.plain("\(path).id is missing or not an integer") }
                guard let content = item["content"]?.stringValue else { throw TokenizerError.plain("\(path).content is missing") }
                let special = item["special"]?.boolValue ?? false
                added.append(AddedToken(id: id, content: content,
                                        singleWord: item["single_word"]?.boolValue ?? false,
                                        lstrip: item["lstrip"]?.boolValue ?? false,
                                        rstrip: item["rstrip"]?.boolValue ?? false,
                                        normalized: item["normalized"]?.boolValue ?? !special,
                                        special: special))
            }
        }

        var tokenIDs = model.vocab
        for t in added { tokenIDs[t.content] = t.id }

        var post: PostProcessor?
        if let p = root["post_processor"], !p.isNull {
            var steps: [PostProcessorStep] = []
            try parsePostProcessor(p, path: "post_processor", tokenIDs: tokenIDs, into: &steps)
            post = PostProcessor(steps: steps)
        }

        var decoder = TokenDecoder(steps: nil)
        if let d = root["decoder"], !d.isNull {
            var steps: [DecoderStep] = []
            try parseDecoder(d, path: "decoder", into: &steps, options)
            decoder = TokenDecoder(steps: steps)
        }

        return TokenizerJSON(model: model, addedTokens: added, normalizer: normalizer, preTokenizer: preTokenizer,
                             postProcessor: post, decoder: decoder)
    }

    // MARK: - Model

    static func parseModel(_ m: JSONValue, byteLevel: Bool) throws -> BPEModel {
        guard case .object = m else { throw TokenizerError.plain("model is not an object") }
        let type = m["type"]?.stringValue
        if let type, type != "BPE" {
            throw TokenizerError.plain("model.type '\(type)' is not supported (only BPE)")
        }
        if type == nil && m["merges"] == nil {
            throw TokenizerError.plain("model.type is missing and the model has no merges (only BPE is supported)")
        }
        guard let vocabMembers = m["vocab"]?.objectValue else {
            throw TokenizerError.plain("model.vocab is missing or not an object")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabMembers.count)
        for (token, v) in vocabMembers {
            guard let id = v.intValue else { throw TokenizerError.plain("model.vocab['\(token)'] is not an integer") }
            vocab[token] = id
        }
        var merges: [(String, String)] = []
        if let list = m["merges"], !list.isNull {
            guard let items = list.arrayValue else { throw TokenizerError.plain("model.merges is not an array") }
            merges.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                if let s = item.stringValue {
                    guard let space = s.firstIndex(of: " ") else {
                        throw TokenizerError.plain("model.merges[\(i)] '\(s)' is not two tokens separated by a space")
                    }
                    merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
                } else if let pair = item.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                    merges.append((a, b))
                } else {
                    throw TokenizerError.plain("model.merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]")
                }
            }
        }
        for field in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = m[field]?.stringValue, !v.isEmpty {
                throw TokenizerError.plain("model.\(field) '\(v)' is not supported")
            }
        }
        let unk = m["unk_token"]?.stringValue
        return try BPEModel(vocab: vocab, merges: merges, byteLevel: byteLevel, unkToken: unk,
                            fuseUnk: m["fuse_unk"]?.boolValue ?? false,
                            byteFallback: m["byte_fallback"]?.boolValue ?? false,
                            ignoreMerges: m["ignore_merges"]?.boolValue ?? false)
    }

    // MARK: - Normalizer

    static func typeName(_ v: JSONValue, _ path: String) throws -> String {
        guard case .object = v else { throw TokenizerError.plain("\(path) is not an object") }
        guard let t = v["type"]?.stringValue else { throw TokenizerError.plain("\(path).type is missing") }
        return t
    }

    static func parsePattern(_ v: JSONValue?, _ path: String, _ options: Options) throws -> ReplacePattern {
        if let s = v?["String"]?.stringValue { return .literal(s) }
        if let r = v?["Regex"]?.stringValue {
            do { return .regex(try ICURegex(r)) } catch let e as TokenizerError {
                throw TokenizerError.plain("\(path).Regex: \(e.message)")
            }
        }
        throw TokenizerError.plain("\(path) must be {\"String\": ...} or {\"Regex\": ...}")
    }

    static func parseNormalizer(_ n: JSONValue, path: String, into steps: inout [NormalizerStep], _ options: Options) throws {
        let type = try typeName(n, path)
        switch type {
        case "Sequence":
            guard let list = n["normalizers"]?.arrayValue else { throw TokenizerError.plain("\(path).normalizers is missing") }
            for (i, item) in list.enumerated() {
                try parseNormalizer(item, path: "\(path).normalizers[\(i)]", into: &steps, options)
            }
        case "NFC": steps.append(.nfc)
        case "NFD": steps.append(.nfd)
        case "NFKC": steps.append(.nfkc)
        case "NFKD": steps.append(.nfkd)
        case "Lowercase": steps.append(.lowercase)
        case "StripAccents": steps.append(.stripAccents)
        case "Strip":
            steps.append(.strip(left: n["strip_left"]?.boolValue ?? true, right: n["strip_right"]?.boolValue ?? true))
        case "Prepend":
            guard let p = n["prepend"]?.stringValue else { throw TokenizerError.plain("\(path).prepend is missing") }
            steps.append(.prepend(p))
        case "Replace":
            let pattern = try parsePattern(n["pattern"], "\(path).pattern", options)
            guard let content = n["content"]?.stringValue else { throw TokenizerError.plain("\(path).content is missing") }
            steps.append(.replace(pattern, content))
        default:
            throw TokenizerError.plain("\(path).type '\(type)' is not supported")
        }
    }

    // MARK: - Pre-tokenizer

    static func parsePreTokenizer(_ p: JSONValue, path: String, into steps: inout [PreTokenizerStep],
                                  paths: inout [String], _ options: Options) throws {
        let type = try typeName(p, path)
        switch type {
        case "Sequence":
            guard let list = p["pretokenizers"]?.arrayValue else { throw TokenizerError.plain("\(path).pretokenizers is missing") }
            for (i, item) in list.enumerated() {
                try parsePreTokenizer(item, path: "\(path).pretokenizers[\(i)]", into: &steps, paths: &paths, options)
            }
            return
        case "ByteLevel":
            steps.append(.byteLevel(addPrefixSpace: p["add_prefix_space"]?.boolValue ?? true,
                                    useRegex: p["use_regex"]?.boolValue ?? true))
        case "Split":
            let pattern: SplitPattern
            if let s = p["pattern"]?["String"]?.stringValue {
                guard !s.isEmpty else { throw TokenizerError.plain("\(path).pattern.String is empty") }
                pattern = .literal(Array(s.utf8))
            } else if let r = p["pattern"]?["Regex"]?.stringValue {
                do {
                    pattern = .regex(try PreTokenizerRegex.make(r, generic: options.genericRegex))
                } catch let e as TokenizerError {
                    throw TokenizerError.plain("\(path).pattern.Regex: \(e.message)")
                }
            } else {
                throw TokenizerError.plain("\(path).pattern must be {\"String\": ...} or {\"Regex\": ...}")
            }
            let behaviorName = p["behavior"]?.stringValue ?? "Isolated"
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError.plain("\(path).behavior '\(behaviorName)' is not supported")
            }
            steps.append(.split(pattern, behavior, invert: p["invert"]?.boolValue ?? false))
        case "Digits":
            steps.append(.digits(individual: p["individual_digits"]?.boolValue ?? false))
        case "WhitespaceSplit":
            steps.append(.whitespaceSplit)
        case "Whitespace":
            steps.append(.whitespace)
        default:
            throw TokenizerError.plain("\(path).type '\(type)' is not supported")
        }
        paths.append(path)
    }

    // MARK: - Post-processor

    static func tokenRef(_ v: JSONValue?, _ path: String, _ tokenIDs: [String: Int]) throws -> Int {
        // ["</s>", 2]
        guard let pair = v?.arrayValue, pair.count == 2, let id = pair[1].intValue else {
            throw TokenizerError.plain("\(path) must be [token, id]")
        }
        return id
    }

    static func parsePostProcessor(_ p: JSONValue, path: String, tokenIDs: [String: Int],
                                   into steps: inout [PostProcessorStep]) throws {
        let type = try typeName(p, path)
        switch type {
        case "Sequence":
            guard let list = p["processors"]?.arrayValue else { throw TokenizerError.plain("\(path).processors is missing") }
            for (i, item) in list.enumerated() {
                try parsePostProcessor(item, path: "\(path).processors[\(i)]", tokenIDs: tokenIDs, into: &steps)
            }
        case "ByteLevel":
            steps.append(.byteLevel)
        case "RobertaProcessing", "BertProcessing":
            steps.append(.wrap(cls: try tokenRef(p["cls"], "\(path).cls", tokenIDs),
                               sep: try tokenRef(p["sep"], "\(path).sep", tokenIDs)))
        case "TemplateProcessing":
            guard let single = p["single"]?.arrayValue else {
                throw TokenizerError.plain("\(path).single is missing or not a list of pieces")
            }
            let specials = p["special_tokens"]
            var pieces: [TemplatePiece] = []
            for (i, piece) in single.enumerated() {
                if let s = piece["SpecialToken"] {
                    guard let name = s["id"]?.stringValue else { throw TokenizerError.plain("\(path).single[\(i)].SpecialToken.id is missing") }
                    if let entry = specials?[name], let ids = entry["ids"]?.arrayValue {
                        pieces.append(.special(try ids.map {
                            guard let id = $0.intValue else {
                                throw TokenizerError.plain("\(path).special_tokens['\(name)'].ids is not a list of integers")
                            }
                            return id
                        }))
                    } else {
                        throw TokenizerError.plain("\(path).special_tokens has no entry '\(name)'")
                    }
                } else if let s = piece["Sequence"] {
                    guard s["id"]?.stringValue == "A" else {
                        throw TokenizerError.plain("\(path).single[\(i)]: only sequence A is supported in a single template")
                    }
                    pieces.append(.sequence)
                } else {
                    throw TokenizerError.plain("\(path).single[\(i)] is neither SpecialToken nor Sequence")
                }
            }
            steps.append(.template(single: pieces))
        default:
            throw TokenizerError.plain("\(path).type '\(type)' is not supported")
        }
    }

    // MARK: - Decoder

    static func parseDecoder(_ d: JSONValue, path: String, into steps: inout [DecoderStep], _ options: Options) throws {
        let type = try typeName(d, path)
        switch type {
        case "Sequence":
            guard let list = d["decoders"]?.arrayValue else { throw TokenizerError.plain("\(path).decoders is missing") }
            for (i, item) in list.enumerated() {
                try parseDecoder(item, path: "\(path).decoders[\(i)]", into: &steps, options)
            }
        case "ByteLevel": steps.append(.byteLevel)
        case "ByteFallback": steps.append(.byteFallback)
        case "Fuse": steps.append(.fuse)
        case "Replace":
            let pattern = try parsePattern(d["pattern"], "\(path).pattern", options)
            guard let content = d["content"]?.stringValue else { throw TokenizerError.plain("\(path).content is missing") }
            steps.append(.replace(pattern, content))
        case "Strip":
            guard let c = d["content"]?.stringValue, c.unicodeScalars.count == 1 else {
                throw TokenizerError.plain("\(path).content must be one character")
            }
            steps.append(.strip(content: c.unicodeScalars.first!, start: d["start"]?.intValue ?? 0,
                                stop: d["stop"]?.intValue ?? 0))
        default:
            throw TokenizerError.plain("\(path).type '\(type)' is not supported")
        }
    }
}
