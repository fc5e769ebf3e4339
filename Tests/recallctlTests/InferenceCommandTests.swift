import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallModel

/// The inference commands end to end: a tiny transformers-made model (Fixtures/llama) with a
/// byte-level tokenizer of exactly its 256-token vocabulary, written here.
final class InferenceCommandTests: XCTestCase {
    /// GPT-2's byte -> printable character map: every byte is one token, no merges.
    static func byteLevelTokenizerJSON() -> String {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var chars: [Int: Int] = [:]
        var extra = 0
        for b in 0..<256 {
            if printable.contains(b) { chars[b] = b } else { chars[b] = 256 + extra; extra += 1 }
        }
        printable.removeAll()
        let vocab = (0..<256).map { b -> (String, JSONValue) in (String(Character(Unicode.Scalar(chars[b]!)!)), .int(b)) }
        let json = JSONValue.object([
            ("version", .string("1.0")),
            ("added_tokens", .array([])),
            ("normalizer", .null),
            ("pre_tokenizer", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                                       ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("post_processor", .null),
            ("decoder", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])),
            ("model", .object([("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                               ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null),
                               ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                               ("vocab", .object(vocab)), ("merges", .array([]))])),
        ])
        return json.serialized()
    }

    func modelDirectory() throws -> URL {
        let dir = try makeTemp(self).appendingPathComponent("model")
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("llama/llama3-bf16"), to: dir)
        try Data(Self.byteLevelTokenizerJSON().utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        return dir
    }

    func testHiddenStatesFileMatchesTheEngine() throws {
        let dir = try modelDirectory()
        let samples = dir.deletingLastPathComponent().appendingPathComponent("s.jsonl")
        try Data("{\"text\": \"hello there\"}\n{\"text\": \"a\"}\n{\"text\": \"merging models layer by layer\"}\n".utf8).write(to: samples)
        let out = dir.deletingLastPathComponent().appendingPathComponent("reps.safetensors")
        let r = try CLI.run(["hidden-states", dir.path, "--samples", samples.path, "--out", out.path, "--batch", "2", "--pooling", "exclude-first"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafeTensorsFile(url: out)
        let model = try LlamaModel(checkpoint: try Checkpoint.open(dir))
        let tokenizer = try Tokenizer(directory: dir)
        let ids = ["hello there", "a", "merging models layer by layer"].map { tokenizer.encode($0) }
        let states = try model.hiddenStates(ids, options: ForwardOptions(pooling: .meanExcludingFirst))
        XCTAssertEqual(file.infos.count, model.config.numHiddenLayers + 1)
        for l in 0...model.config.numHiddenLayers {
            let t = try file.tensor(named: "layer.\(l)")
            XCTAssertEqual(t.shape, [3, model.config.hiddenSize])
            let values = try t.toFloat32()
            for s in 0..<3 {
                let expected = Array(states.pooled(layer: l, sample: s))
                let got = Array(values[(s * model.config.hiddenSize)..<((s + 1) * model.config.hiddenSize)])
                for k in expected.indices { XCTAssertEqual(got[k], expected[k], accuracy: 1e-5 * max(1, abs(expected[k]))) }
            }
        }
    }

    func testScoreTokenizeGenerateAndBadInputs() throws {
        let dir = try modelDirectory()
        var r = try CLI.run(["tokenize", dir.path, "--text", "hi!", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"ids\": [104, 105, 33]"), r.stdout)
        r = try CLI.run(["score", dir.path, "--prompt", "ab", "--choices", "c|dd", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let choices = try XCTUnwrap(j["choices"] as? [[String: Any]])
        XCTAssertEqual(choices.map { $0["tokens"] as? Int }, [1, 2])
        let model = try LlamaModel(checkpoint: try Checkpoint.open(dir))
        let expected = try model.logProbabilities(prompt: [97, 98], continuation: [100, 100]).reduce(0, +)
        XCTAssertEqual((choices[1]["logprob"] as! NSNumber).doubleValue, Double(expected), accuracy: 1e-4)
        r = try CLI.run(["generate", dir.path, "--prompt", "abc", "--max-tokens", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let greedy = try model.greedy(prompt: [97, 98, 99], maxNewTokens: 3, stop: [])
        XCTAssertEqual(r.stdout, try Tokenizer(directory: dir).decode(greedy, skipSpecialTokens: true) + "\n")

        let badSamples = dir.deletingLastPathComponent().appendingPathComponent("bad.jsonl")
        try Data("{\"text\": \"ok\"}\nnot json\n".utf8).write(to: badSamples)
        r = try CLI.run(["hidden-states", dir.path, "--samples", badSamples.path, "--out", dir.deletingLastPathComponent().appendingPathComponent("x.safetensors").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("line 2"), r.stderr)
        r = try CLI.run(["score", CLI.fixtures.appendingPathComponent("llama/llama3-bf16").path, "--prompt", "a", "--choices", "b"])
        XCTAssertEqual(r.status, 1, "no tokenizer.json")
        XCTAssertEqual(try CLI.run(["hidden-states", dir.path, "--samples", badSamples.path, "--out", "x", "--pooling", "max"]).status, 2)
    }
}
