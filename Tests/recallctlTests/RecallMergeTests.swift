import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallModel
@testable import RecallMerge

/// An HF directory: the llama3-bf16 fixture with a byte-level tokenizer, optionally with every
/// float tensor moved by a seeded random task vector (written as F32).
func makeExpert(_ dir: URL, seed: UInt64?, scale: Float = 0.05) throws -> Checkpoint {
    let source = CLI.fixtures.appendingPathComponent("llama/llama3-bf16")
    let base = try Checkpoint.open(source)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
    try Data(InferenceCommandTests.byteLevelTokenizerJSON().utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
    var rng = SplitMix(seed: seed ?? 0)
    let tensors = try base.weights.infos.map { info -> TensorView in
        let values = try base.weights.tensor(named: info.name).toFloat32()
        let moved = seed == nil ? values : values.map { $0 + Float.random(in: -scale...scale, using: &rng) }
        return TensorView(name: info.name, shape: info.shape, float32: moved, as: .f32)
    }
    try SafeTensorsWriter().write(tensors, to: dir.appendingPathComponent("model.safetensors"))
    return try Checkpoint.open(dir)
}

let recallTexts = ["merge the models", "layer by layer", "keep old skills", "learn new tasks", "shallow layers share",
                   "deep layers specialise", "typical samples", "kernel similarity", "softmax weights", "no old data"]

/// RECALL end to end on a tiny transformers-made model and two synthetic experts.
final class RecallMergeTests: XCTestCase {
    let texts = recallTexts
    func expert(_ dir: URL, seed: UInt64?, scale: Float = 0.05) throws -> Checkpoint { try makeExpert(dir, seed: seed, scale: scale) }

    func samples() -> [Sample] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recall-\(UUID().uuidString).jsonl")
        try! Data(texts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n").utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try! SamplesFile.load(url)
    }

    func testRecallWeightsFusionAndLambdaChoice() throws {
        let dir = try makeTemp(self)
        let base = try expert(dir.appendingPathComponent("base"), seed: nil)
        let a = try expert(dir.appendingPathComponent("a"), seed: 1)
        let b = try expert(dir.appendingPathComponent("b"), seed: 2, scale: 0.1)
        var options = RecallMerge.Options()
        options.clusters = 3
        options.lambda = .auto([1, 2])
        options.outputDType = .f32
        let tokenizer = try Tokenizer(directory: dir.appendingPathComponent("base"))
        let (merged, report) = try RecallMerge(options: options).merge(
            base: base, experts: [.init(name: "a", checkpoint: a), .init(name: "b", checkpoint: b)],
            newSamples: samples(), tokenizer: tokenizer)

        // Typical samples are real, distinct samples; clusters cover all samples.
        XCTAssertEqual(report.typicalSamples.count, 3)
        XCTAssertEqual(Set(report.typicalSamples.map(\.index)).count, 3)
        for t in report.typicalSamples { XCTAssertEqual(t.text, texts[t.index]) }
        XCTAssertEqual(report.typicalSamples.map(\.clusterSize).reduce(0, +), texts.count)
        // One weight row per representation layer (embeddings + 4 decoder layers), each a distribution.
        XCTAssertEqual(report.weights.count, 5)
        for row in report.weights {
            XCTAssertEqual(row.count, 2)
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-9)
        }
        // Lambda is the argmin of the losses tried.
        XCTAssertEqual(report.lambdaLosses.map(\.lambda), [1, 2])
        XCTAssertEqual(report.lambda, report.lambdaLosses.min { $0.loss < $1.loss }!.lambda)
        // The fused tensor is base + lambda * sum_i w_i (theta_i - base) with decoder layer 1's weights at index 2.
        let name = "model.layers.1.mlp.up_proj.weight"
        let got = try merged.tensor(named: name).toFloat32()
        let t0 = try base.weights.tensor(named: name).toFloat32()
        let ta = try a.weights.tensor(named: name).toFloat32(), tb = try b.weights.tensor(named: name).toFloat32()
        let w = report.weights[2], lambda = Float(report.lambda)
        for k in got.indices {
            let expected = t0[k] + lambda * (Float(w[0]) * (ta[k] - t0[k]) + Float(w[1]) * (tb[k] - t0[k]))
            XCTAssertEqual(got[k], expected, accuracy: 1e-5)
        }
        XCTAssertNotNil(report.json["weights"])
    }

    func testIdenticalExpertsGetEqualWeights() throws {
        let dir = try makeTemp(self)
        let base = try expert(dir.appendingPathComponent("base"), seed: nil)
        let a = try expert(dir.appendingPathComponent("a"), seed: 5)
        let a2 = try expert(dir.appendingPathComponent("a2"), seed: 5)
        var options = RecallMerge.Options()
        options.clusters = 2
        options.lambda = .fixed(1)
        let (_, report) = try RecallMerge(options: options).merge(
            base: base, experts: [.init(name: "a", checkpoint: a), .init(name: "a2", checkpoint: a2)],
            newSamples: samples(), tokenizer: try Tokenizer(directory: dir.appendingPathComponent("base")))
        for row in report.weights { for v in row { XCTAssertEqual(v, 0.5, accuracy: 1e-9) } }
        XCTAssertTrue(report.lambdaLosses.isEmpty)
    }
}

final class RecallCommandTests: XCTestCase {
    func testMergeMethodRecallWritesModelAndReport() throws {
        let dir = try makeTemp(self)
        let base = try makeExpert(dir.appendingPathComponent("base"), seed: nil)
        _ = try makeExpert(dir.appendingPathComponent("a"), seed: 1)
        _ = try makeExpert(dir.appendingPathComponent("new"), seed: 2)
        let samples = dir.appendingPathComponent("new.jsonl")
        try Data(recallTexts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n").utf8).write(to: samples)
        let out = dir.appendingPathComponent("merged"), report = dir.appendingPathComponent("report.json")
        let r = try CLI.run(["merge", "--method", "recall", "--base", dir.appendingPathComponent("base").path,
                             "--models", "\(dir.appendingPathComponent("a").path),\(dir.appendingPathComponent("new").path)",
                             "--samples", samples.path, "--clusters", "3", "--lambda", "1.5", "--out", out.path, "--report", report.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("lambda 1.5"), r.stdout)
        let json = try JSONValue.parse(Data(contentsOf: report))
        XCTAssertEqual(json["weights"]?.arrayValue?.count, 5)
        XCTAssertEqual(json["typical_samples"]?.arrayValue?.count, 3)
        XCTAssertEqual(Set(try Checkpoint.open(out).weights.tensorNames), Set(base.weights.tensorNames))
        // The TIES-sparsified variant and another pooling run too; a bad density is a usage error.
        let tiesOut = dir.appendingPathComponent("merged-ties")
        let ties = try CLI.run(["merge", "--method", "recall", "--base", dir.appendingPathComponent("base").path,
                                "--models", "\(dir.appendingPathComponent("a").path),\(dir.appendingPathComponent("new").path)",
                                "--samples", samples.path, "--clusters", "2", "--lambda", "1", "--sparsify", "ties:0.5",
                                "--pooling", "mean", "--out", tiesOut.path])
        XCTAssertEqual(ties.status, 0, ties.stderr)
        XCTAssertNotEqual(try Checkpoint.open(tiesOut).weights.tensor(named: "model.layers.0.mlp.up_proj.weight").copyBytes(),
                          try Checkpoint.open(out).weights.tensor(named: "model.layers.0.mlp.up_proj.weight").copyBytes())
        XCTAssertEqual(try CLI.run(["merge", "--method", "recall", "--base", base.url.path, "--models", base.url.path, "--samples", samples.path,
                                    "--sparsify", "ties:2", "--out", out.path]).status, 2)
        // Bad inputs: no samples file, a malformed one.
        XCTAssertEqual(try CLI.run(["merge", "--method", "recall", "--base", base.url.path, "--models", base.url.path, "--out", out.path]).status, 2)
        try Data("{\"text\": \"x\"}\n{bad\n".utf8).write(to: samples)
        let bad = try CLI.run(["merge", "--method", "recall", "--base", base.url.path, "--models", base.url.path,
                               "--samples", samples.path, "--out", dir.appendingPathComponent("o2").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("line 2"), bad.stderr)
    }
}
