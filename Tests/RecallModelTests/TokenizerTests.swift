import Foundation
import XCTest
@testable import RecallModel
import RecallTestSupport

/// Oracle: HF `tokenizers` (see Fixtures/tokenizers/README.md). Every corpus item must match exactly.
final class TokenizerTests: XCTestCase {
    static let dir = Fixtures.url("tokenizers")

    struct Item {
        var text: String
        var ids: [Int]
        var idsNoSpecial: [Int]
        var decoded: String
        var decodedSkipSpecial: String
        var roundtrip: Bool
    }

    struct DecodeCase {
        var ids: [Int]
        var decoded: String
        var decodedSkipSpecial: String
    }

    struct Corpus {
        var vocabSize: Int
        var items: [Item]
        var decodeCases: [DecodeCase]
    }

    static func corpus(_ name: String) throws -> Corpus {
        let data = try Data(contentsOf: dir.appendingPathComponent("\(name)/corpus.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let items = (root["items"] as! [[String: Any]]).map {
            Item(text: $0["text"] as! String, ids: $0["ids"] as! [Int], idsNoSpecial: $0["ids_no_special"] as! [Int],
                 decoded: $0["decoded"] as! String, decodedSkipSpecial: $0["decoded_skip_special"] as! String,
                 roundtrip: $0["roundtrip"] as! Bool)
        }
        let cases = (root["decode_cases"] as? [[String: Any]] ?? []).map {
            DecodeCase(ids: $0["ids"] as! [Int], decoded: $0["decoded"] as! String,
                       decodedSkipSpecial: $0["decoded_skip_special"] as! String)
        }
        return Corpus(vocabSize: root["vocab_size"] as! Int, items: items, decodeCases: cases)
    }

    static let loaded: [String: Tokenizer] = {
        var out: [String: Tokenizer] = [:]
        for name in ["gpt2-bpe", "llama3-bpe", "smollm2"] {
            out[name] = try? Tokenizer(contentsOf: dir.appendingPathComponent("\(name)/tokenizer.json"))
        }
        return out
    }()

    func tokenizer(_ name: String) throws -> Tokenizer {
        try XCTUnwrap(Self.loaded[name], "\(name)/tokenizer.json failed to load")
    }

    func checkCorpus(_ name: String, _ tok: Tokenizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let corpus = try Self.corpus(name)
        XCTAssertGreaterThan(corpus.items.count, 50)
        var failures = 0
        for item in corpus.items {
            let label = "\(name): \(item.text.debugDescription.prefix(80))"
            let ids = tok.encode(item.text)
            let plain = tok.encode(item.text, addSpecialTokens: false)
            if ids != item.ids || plain != item.idsNoSpecial { failures += 1 }
            XCTAssertEqual(ids, item.ids, label, file: file, line: line)
            XCTAssertEqual(plain, item.idsNoSpecial, label, file: file, line: line)
            XCTAssertEqual(tok.decode(item.ids), item.decoded, label, file: file, line: line)
            XCTAssertEqual(tok.decode(item.ids, skipSpecialTokens: true), item.decodedSkipSpecial, label, file: file, line: line)
            if item.roundtrip {
                XCTAssertEqual(tok.decode(plain), item.text, "round trip " + label, file: file, line: line)
            }
        }
        for c in corpus.decodeCases {
            XCTAssertEqual(tok.decode(c.ids), c.decoded, "\(name) decode \(c.ids.prefix(8))", file: file, line: line)
            XCTAssertEqual(tok.decode(c.ids, skipSpecialTokens: true), c.decodedSkipSpecial, file: file, line: line)
        }
        XCTAssertEqual(tok.vocabularySize, corpus.vocabSize, name, file: file, line: line)
        XCTAssertEqual(failures, 0, "\(name): \(failures) of \(corpus.items.count) items differ from tokenizers")
    }

    // MARK: - Oracle corpora

    func testGPT2StyleMatchesTokenizers() throws {
        let tok = try tokenizer("gpt2-bpe")
        try checkCorpus("gpt2-bpe", tok)
        XCTAssertEqual(tok.bosTokenID, tok.tokenID("<s>"))
    }

    func testLlama3StyleMatchesTokenizers() throws {
        let tok = try tokenizer("llama3-bpe")
        try checkCorpus("llama3-bpe", tok)
        XCTAssertEqual(tok.bosTokenID, 0)
        XCTAssertEqual(tok.eosTokenID, 1)  // "<|end_of_text|>" by name
    }

    func testSmolLM2MatchesTokenizers() throws {
        try checkCorpus("smollm2", try tokenizer("smollm2"))
    }

    /// The ICU fallback (used for patterns we have no scanner for) must agree with `tokenizers` too.
    func testGenericRegexPathMatchesTokenizers() throws {
        var options = TokenizerJSON.Options()
        options.genericRegex = true
        let tok = try Tokenizer(contentsOf: Self.dir.appendingPathComponent("llama3-bpe/tokenizer.json"), options: options)
        guard case let .split(.regex(re), _, _)? = tok.core.preTokenizer?.steps.first, case .icu = re else {
            return XCTFail("expected the ICU regex path")
        }
        try checkCorpus("llama3-bpe", tok)
    }

    func testDirectoryReadsTokenizerConfig() throws {
        let tok = try Tokenizer(directory: Self.dir.appendingPathComponent("smollm2"))
        // transformers' GGUF conversion wrote bos = eos = "<|im_start|>" (id 1) and add_bos_token = true.
        XCTAssertEqual(tok.bosTokenID, 1)
        XCTAssertEqual(tok.eosTokenID, 1)
        let corpus = try Self.corpus("smollm2")
        for item in corpus.items.prefix(20) { XCTAssertEqual(tok.encode(item.text), item.ids) }
        XCTAssertEqual(tok.tokenID("<|im_end|>"), 2)
        XCTAssertEqual(tok.token(forID: 2), "<|im_end|>")
    }

    func testLlamaClassConfigRebuildsTemplate() throws {
        let dir = try makeTempDirectory(self)
        try FileManager.default.copyItem(at: Self.dir.appendingPathComponent("gpt2-bpe/tokenizer.json"),
                                         to: dir.appendingPathComponent("tokenizer.json"))
        try Data(#"{"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "add_eos_token": true, "bos_token": {"content": "<s>"}, "eos_token": "</s>"}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let tok = try Tokenizer(directory: dir)
        let plain = tok.encode("hello world", addSpecialTokens: false)
        XCTAssertEqual(tok.encode("hello world"), [1] + plain + [2])
        XCTAssertEqual(tok.bosTokenID, 1)
        XCTAssertEqual(tok.eosTokenID, 2)
    }

    // MARK: - Scanners vs ICU, BPE merge paths

    /// Deterministic random strings over characters that exercise every branch of the patterns.
    func randomTexts(count: Int, seed: UInt64) -> [String] {
        let alphabet: [String] = ["a", "b", "Z", "é", "ſ", "日", "ß", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u{0B}",
                                  "\u{85}", "\u{A0}", "\u{3000}", "1", "23", "٣", "²", "'", "'s", "'T", "'re", "'LL",
                                  "'d", "'m", "'ve", ".", ",", "!", "😀", "\u{301}", "-", "_", "\u{200D}", "🇺🇸", "$"]
        var state = seed
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { _ in
            let n = next() % 24
            return (0..<n).map { _ in alphabet[next() % alphabet.count] }.joined()
        }
    }

    func testScannersAgreeWithICU() throws {
        let patterns: [(String, PreTokenizerRegex)] = [
            (PreTokenizerRegex.gpt2Pattern, .gpt2),
            (PreTokenizerRegex.llama3Pattern, .llama3(maxDigits: 3)),
            (PreTokenizerRegex.qwen2Pattern, .llama3(maxDigits: 1)),
        ]
        for (pattern, fast) in patterns {
            let icu = PreTokenizerRegex.icu(try ICURegex(pattern))
            var scratch = ScalarBuffer()
            for text in randomTexts(count: 3000, seed: 42) {
                let bytes = Array(text.utf8)
                var a: [(Int, Int)] = [], b: [(Int, Int)] = []
                bytes.withUnsafeBufferPointer {
                    fast.matches($0, scratch: &scratch, into: &a)
                    icu.matches($0, scratch: &scratch, into: &b)
                }
                XCTAssertTrue(a.elementsEqual(b, by: ==), "\(pattern.prefix(12)) on \(text.debugDescription)")
            }
        }
    }

    func testSmallAndLargeMergePathsAgree() throws {
        let tok = try tokenizer("smollm2")
        let model = tok.core.model
        var state = BPEState()
        for text in randomTexts(count: 300, seed: 7) {
            // Long words straight into the model, no pre-tokenizer: both merge paths must agree.
            let word = Array(String(repeating: text.replacingOccurrences(of: " ", with: "e"), count: 3).utf8)
            if word.count < 2 { continue }
            var symbols: [Int32] = []
            for b in word { symbols.append(model.byteIDs[Int(b)]) }
            state.symbols = symbols
            model.mergeSmallForTesting(&state)
            let small = state.symbols
            state.symbols = symbols
            model.mergeLargeForTesting(&state)
            XCTAssertEqual(small, state.symbols, text.debugDescription)
        }
    }

    func testLongInputsAndRepeats() throws {
        let tok = try tokenizer("smollm2")
        let long = String(repeating: "a", count: 5000) + String(repeating: " ", count: 3000) + String(repeating: "7", count: 100)
        let ids = tok.encode(long, addSpecialTokens: false)
        XCTAssertEqual(tok.decode(ids), long)
        // The per-call cache must not change results.
        let sentence = " the cat sat on the mat."
        let once = tok.encode(sentence, addSpecialTokens: false)
        XCTAssertEqual(tok.encode(String(repeating: sentence, count: 50), addSpecialTokens: false),
                       Array([[Int]](repeating: once, count: 50).joined()))
    }

    func testConcurrentEncodingIsConsistent() throws {
        let tok = try tokenizer("smollm2")
        let texts = try Self.corpus("smollm2").items.map(\.text)
        let expected = texts.map { tok.encode($0) }
        let mismatches = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            for (i, t) in texts.enumerated() where (i + k) % 2 == 0 {
                if tok.encode(t) != expected[i] { mismatches.increment() }
            }
        }
        XCTAssertEqual(mismatches.value, 0)
    }

    // MARK: - Bad files

    func assertLoadError(_ json: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("tokenizer.json")
        try Data(json.utf8).write(to: url)
        XCTAssertThrowsError(try Tokenizer(contentsOf: url), file: file, line: line) { error in
            let message = (error as? TokenizerError)?.description ?? "\(error)"
            XCTAssertTrue(message.hasPrefix(expected), "got: \(message)", file: file, line: line)
        }
    }

    func testBadFilesGiveClearErrors() throws {
        try assertLoadError("<html>", "tokenizer.json: not valid JSON (unexpected character '<' at byte 0)")
        try assertLoadError("[1, 2]", "tokenizer.json: the top level is not a JSON object")
        try assertLoadError(#"{"version": "1.0"}"#, "tokenizer.json: missing field 'model'")
        try assertLoadError(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#,
                            "tokenizer.json: model.type 'Unigram' is not supported (only BPE)")
        try assertLoadError(#"{"model": {"type": "WordPiece", "vocab": {}}}"#,
                            "tokenizer.json: model.type 'WordPiece' is not supported (only BPE)")
        try assertLoadError(#"{"model": {"type": "BPE", "merges": []}}"#,
                            "tokenizer.json: model.vocab is missing or not an object")
        try assertLoadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#,
                            "tokenizer.json: model.merges[0]: token 'b' is not in model.vocab")
        try assertLoadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}"#,
                            "tokenizer.json: model.merges[0] 'ab' is not two tokens separated by a space")
        try assertLoadError(#"{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
                            "tokenizer.json: pre_tokenizer.type 'Metaspace' is not supported")
        try assertLoadError(#"{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Precompiled"}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
                            "tokenizer.json: normalizer.normalizers[1].type 'Precompiled' is not supported")
        try assertLoadError(#"{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
                            "tokenizer.json: pre_tokenizer.pretokenizers[0]: ByteLevel is only supported as the last pre-tokenizer")
        try assertLoadError(#"{"decoder": {"type": "WordPiece"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
                            "tokenizer.json: decoder.type 'WordPiece' is not supported")
        try assertLoadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#,
                            "tokenizer.json: model.unk_token '<unk>' is not in model.vocab")
        try assertLoadError(#"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
                            "tokenizer.json: pre_tokenizer.pattern.Regex: regex '([' does not compile")
        let missing = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        XCTAssertThrowsError(try Tokenizer(contentsOf: missing)) { error in
            XCTAssertTrue((error as? TokenizerError)?.description.hasPrefix("tokenizer.json: cannot read the file") ?? false)
        }
        XCTAssertThrowsError(try Tokenizer(directory: URL(fileURLWithPath: "/nonexistent"))) { error in
            XCTAssertEqual((error as? TokenizerError)?.description, "tokenizer.json: not found in /nonexistent")
        }
    }

    /// A minimal character-level BPE file with unk and byte_fallback (no oracle file needed: the rules are small).
    func testCharacterLevelUnkAndByteFallback() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("tokenizer.json")
        let json = #"""
        {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
         "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
                   "vocab": {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "▁": 3, "a": 4, "b": 5, "▁a": 6, "▁ab": 7},
                   "merges": [["▁", "a"], ["▁a", "b"]]},
         "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                     {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}
        """#
        try Data(json.utf8).write(to: url)
        let tok = try Tokenizer(contentsOf: url)
        XCTAssertEqual(tok.encode("ab a"), [7, 6])
        XCTAssertEqual(tok.encode("aé"), [6, 1, 2])          // é has no token: its UTF-8 bytes
        XCTAssertEqual(tok.encode("a日本b"), [6, 0, 5])      // no byte tokens for 日本: one fused <unk>
        XCTAssertEqual(tok.decode([7, 6, 1, 2]), "ab aé")
        XCTAssertEqual(tok.decode([6, 1]), "a\u{FFFD}")
        XCTAssertNil(tok.bosTokenID)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
