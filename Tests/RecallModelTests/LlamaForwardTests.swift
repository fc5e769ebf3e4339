import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// The Llama-family forward pass against transformers (tools/gen_llama_fixtures.py).
///
/// Tolerance: max |ours - reference| <= 1e-4 x max |reference| per layer and sample (pooled:
/// per layer; logits and log-probabilities: per vector).
final class LlamaForwardTests: XCTestCase {
    static let fixtureRoot = Fixtures.url("llama")
    static let models = ["llama-gqa", "llama-tied-linear", "qwen2-bias", "llama3-bf16", "mistral-window"]
    static let tolerance: Float = 1e-4

    /// One fixture: the model and its golden outputs.
    struct Fixture {
        let name: String
        let model: LlamaModel
        let golden: SafeTensorsFile

        init(_ name: String) throws {
            self.name = name
            let dir = LlamaForwardTests.fixtureRoot.appendingPathComponent(name)
            model = try LlamaModel(checkpoint: try Checkpoint.open(dir))
            golden = try SafeTensorsFile(url: dir.appendingPathComponent("golden.safetensors"))
        }

        func floats(_ key: String) throws -> [Float] { try golden.tensor(named: key).toFloat32() }
        func shape(_ key: String) throws -> [Int] { try golden.tensor(named: key).shape }
        func ints(_ key: String) throws -> [Int] {
            let t = try golden.tensor(named: key)
            precondition(t.dtype == .i64)
            return (0..<t.elementCount).map { Int(t.bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        var samples: [[Int]] {
            get throws {
                var out: [[Int]] = []
                while golden.info(named: "sample.\(out.count).input_ids") != nil {
                    out.append(try ints("sample.\(out.count).input_ids"))
                }
                return out
            }
        }
    }

    /// max |a - b| / max |b|.
    func relativeError(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        XCTAssertEqual(a.count, b.count)
        var diff: Float = 0, scale: Float = 0
        for (x, y) in zip(a, b) {
            diff = max(diff, abs(x - y))
            scale = max(scale, abs(y))
        }
        return diff / max(scale, .leastNormalMagnitude)
    }

    func forEachFixture(_ body: (Fixture) throws -> Void) throws {
        for name in Self.models { try body(try Fixture(name)) }
    }

    // MARK: Against transformers

    func testPerTokenHiddenStatesMatchTransformers() throws {
        try forEachFixture { f in
            let samples = try f.samples
            let hs = try f.model.hiddenStates(samples, options: ForwardOptions(perTokenStates: true, pooling: .mean))
            XCTAssertEqual(hs.layerCount, f.model.config.numHiddenLayers + 1)
            XCTAssertEqual(hs.tokenCounts, samples.map(\.count))
            let h = f.model.config.hiddenSize
            var worst: Float = 0
            for (s, sample) in samples.enumerated() {
                let ref = try f.floats("sample.\(s).hidden_states")  // [L+1, n, H]
                XCTAssertEqual(try f.shape("sample.\(s).hidden_states"), [hs.layerCount, sample.count, h])
                for l in 0..<hs.layerCount {
                    let layerRef = ref[(l * sample.count * h)..<((l + 1) * sample.count * h)]
                    let e = relativeError(hs.perToken![l][s], layerRef)
                    worst = max(worst, e)
                    XCTAssertLessThanOrEqual(e, Self.tolerance, "\(f.name) sample \(s) layer \(l)")
                }
            }
            print("\(f.name): per-token hidden states max relative error \(worst)")
        }
    }

    func testPooledStatesMatchTransformers() throws {
        try forEachFixture { f in
            let samples = try f.samples
            let ratio = try f.floats("pooled.outlier_ratio")[0]
            let cases: [(Pooling, String)] = [
                (.mean, "pooled.mean"),
                (.meanExcludingFirst, "pooled.mean_excluding_first"),
                (.meanExcludingFirstAndOutliers(ratio: ratio), "pooled.mean_excluding_first_and_outliers"),
            ]
            for (pooling, key) in cases {
                let hs = try f.model.hiddenStates(samples, options: ForwardOptions(pooling: pooling))
                XCTAssertNil(hs.perToken)
                let ref = try f.floats(key)  // [L+1, S, H]
                XCTAssertEqual(try f.shape(key), [hs.layerCount, samples.count, hs.hiddenSize])
                let per = samples.count * hs.hiddenSize
                for l in 0..<hs.layerCount {
                    let e = relativeError(hs.pooled[(l * per)..<((l + 1) * per)], ref[(l * per)..<((l + 1) * per)])
                    XCTAssertLessThanOrEqual(e, Self.tolerance, "\(f.name) \(key) layer \(l)")
                }
                XCTAssertEqual(Array(hs.pooled(layer: 1, sample: 2)), Array(hs.pooled[(per + 2 * hs.hiddenSize)..<(per + 3 * hs.hiddenSize)]))
            }
        }
    }

    func testLastLogitsMatchTransformers() throws {
        try forEachFixture { f in
            for (s, sample) in try f.samples.enumerated() {
                let logits = try f.model.logits(sample)
                XCTAssertEqual(logits.count, f.model.config.vocabSize)
                let e = relativeError(logits, try f.floats("sample.\(s).logits_last"))
                XCTAssertLessThanOrEqual(e, Self.tolerance, "\(f.name) sample \(s) logits")
            }
        }
    }

    /// The fixture's (prompt, continuation) pairs and transformers' log-probabilities of each.
    func logProbabilityCases(_ f: Fixture) throws -> ([(prompt: [Int], continuation: [Int])], [[Float]]) {
        var pairs: [(prompt: [Int], continuation: [Int])] = []
        var refs: [[Float]] = []
        while f.golden.info(named: "logprob.\(pairs.count).values") != nil {
            let k = pairs.count
            pairs.append((try f.ints("logprob.\(k).prompt"), try f.ints("logprob.\(k).continuation")))
            refs.append(try f.floats("logprob.\(k).values"))
        }
        return (pairs, refs)
    }

    func testLogProbabilitiesMatchTransformers() throws {
        try forEachFixture { f in
            let (pairs, refs) = try logProbabilityCases(f)
            XCTAssertGreaterThanOrEqual(pairs.count, 2)
            let batched = try f.model.logProbabilities(pairs)
            for (k, p) in pairs.enumerated() {
                let single = try f.model.logProbabilities(prompt: p.prompt, continuation: p.continuation)
                XCTAssertLessThanOrEqual(relativeError(single, refs[k]), Self.tolerance, "\(f.name) pair \(k)")
                XCTAssertLessThanOrEqual(relativeError(batched[k], refs[k]), Self.tolerance, "\(f.name) pair \(k) batched")
            }
            // An empty continuation scores nothing.
            XCTAssertEqual(try f.model.logProbabilities(prompt: [3, 4], continuation: []), [])
        }
    }

    /// Choices scored as branches of a shared prompt (`logProbabilities(groups:)`) equal the
    /// transformers values of each pair scored alone: all fixture pairs in one group (their
    /// common prefix may be empty), and groups whose pairs share a prompt, split at different
    /// points (a choice whose first token merged into the prompt's last), or nest (one full
    /// sequence a prefix of another, so one branch is empty).
    func testSharedPromptGroupsMatchSeparateScoring() throws {
        try forEachFixture { f in
            let (pairs, refs) = try logProbabilityCases(f)
            let together = try f.model.logProbabilities(groups: [pairs])[0]
            for k in pairs.indices {
                XCTAssertLessThanOrEqual(relativeError(together[k], refs[k]), Self.tolerance, "\(f.name) pair \(k) in one group")
            }
            let p = pairs[0].prompt, c = pairs[0].continuation
            XCTAssertGreaterThanOrEqual(p.count, 2, "fixture prompt too short for the split case")
            let vocab = f.model.config.vocabSize
            let group: [(prompt: [Int], continuation: [Int])] = [
                (p, c),
                (p, c.reversed() + [7 % vocab]),
                (Array(p.dropLast()), [p.last!] + c),  // split one token earlier
                (p, Array(c.prefix(1))),              // nested: a prefix of the first pair
            ]
            let grouped = try f.model.logProbabilities(groups: [group, [pairs[1]], group.reversed()])
            for (g, members) in [(0, group), (2, Array(group.reversed()))] {
                for (i, pair) in members.enumerated() {
                    let alone = try f.model.logProbabilities(prompt: pair.prompt, continuation: pair.continuation)
                    XCTAssertEqual(grouped[g][i].count, pair.continuation.count)
                    XCTAssertLessThanOrEqual(relativeError(grouped[g][i], alone), Self.tolerance, "\(f.name) group \(g) pair \(i)")
                }
            }
            XCTAssertLessThanOrEqual(relativeError(grouped[1][0], refs[1]), Self.tolerance, "\(f.name) single-pair group")
            XCTAssertLessThanOrEqual(relativeError(grouped[0][0], refs[0]), Self.tolerance, "\(f.name) shared-prompt pair vs transformers")
        }
    }

    func testGreedyMatchesTransformersGenerate() throws {
        try forEachFixture { f in
            let out = try f.model.greedy(prompt: try f.ints("greedy.prompt"), maxNewTokens: try f.ints("greedy.max_new_tokens")[0],
                                         stop: Set(try f.ints("greedy.stop")))
            XCTAssertEqual(out, try f.ints("greedy.output"), f.name)
        }
    }

    // MARK: Batching

    func testBatchedEqualsOneByOne() throws {
        try forEachFixture { f in
            let samples = try f.samples
            let opts = ForwardOptions(perTokenStates: true, pooling: .meanExcludingFirst)
            let batch = try f.model.hiddenStates(samples, options: opts)
            var worst: Float = 0
            for (s, sample) in samples.enumerated() {
                let alone = try f.model.hiddenStates([sample], options: opts)
                for l in 0..<batch.layerCount {
                    worst = max(worst, relativeError(batch.perToken![l][s], alone.perToken![l][0]))
                    worst = max(worst, relativeError(batch.pooled(layer: l, sample: s), alone.pooled(layer: l, sample: 0)))
                }
            }
            // Samples never mix; only sgemm blocking (which micro-kernel a row falls into)
            // differs with the batch, at the F32 rounding level.
            XCTAssertLessThanOrEqual(worst, 1e-5, f.name)
            print("\(f.name): batched vs one-by-one max relative difference \(worst)")
        }
    }

    /// Many samples over several chunks (and one longer than a chunk, and a prompt prefilled
    /// in several chunks): chunking must not change anything.
    func testChunkedBatchEqualsOneByOne() throws {
        let f = try Fixture("llama-gqa")
        f.model.chunkRowsOverride = 16
        var rng = SeededGenerator(seed: 7)
        let samples: [[Int]] = (0..<12).map { _ in
            (0..<Int.random(in: 1...9, using: &rng)).map { _ in Int.random(in: 0..<128, using: &rng) }
        } + [(0..<21).map { ($0 * 7) % 128 }]
        let batch = try f.model.hiddenStates(samples)
        f.model.chunkRowsOverride = nil
        for s in samples.indices {
            let alone = try f.model.hiddenStates([samples[s]])
            for l in 0..<batch.layerCount {
                XCTAssertLessThanOrEqual(relativeError(batch.pooled(layer: l, sample: s), alone.pooled(layer: l, sample: 0)), 1e-5)
            }
        }
        let prompt = try f.ints("greedy.prompt") + samples[12]
        let whole = try f.model.greedy(prompt: prompt, maxNewTokens: 5, stop: [])
        f.model.chunkRowsOverride = 4
        XCTAssertEqual(try f.model.greedy(prompt: prompt, maxNewTokens: 5, stop: []), whole)
        f.model.chunkRowsOverride = nil
    }

    func testEmptyBatch() throws {
        let f = try Fixture("llama-gqa")
        let hs = try f.model.hiddenStates([], options: ForwardOptions(perTokenStates: true))
        XCTAssertEqual(hs.sampleCount, 0)
        XCTAssertEqual(hs.layerCount, 3)
        XCTAssertEqual(hs.pooled, [])
        XCTAssertEqual(try f.model.logProbabilities([]).count, 0)
        XCTAssertEqual(try f.model.greedy(prompt: [5], maxNewTokens: 0, stop: []), [])
    }

    // MARK: Bad inputs and checkpoints

    func testTokenOutsideVocabularyIsRejected() throws {
        let f = try Fixture("llama-gqa")
        assertRecallError(["sample 1", "token id 128", "position 2", "vocabulary"]) {
            _ = try f.model.hiddenStates([[1, 2], [3, 4, 128]])
        }
        assertRecallError(["token id -1"]) { _ = try f.model.logits([-1]) }
        assertRecallError(["sample 0", "empty"]) { _ = try f.model.hiddenStates([[]]) }
        assertRecallError(["pair 0 prompt", "empty"]) { _ = try f.model.logProbabilities(prompt: [], continuation: [1]) }
        assertRecallError(["pair 0 continuation", "token id 500"]) { _ = try f.model.logProbabilities(prompt: [1], continuation: [500]) }
        assertRecallError(["prompt", "token id 999"]) { _ = try f.model.greedy(prompt: [999], maxNewTokens: 2, stop: []) }
    }

    /// Copies a fixture checkpoint with `edit` applied to its tensor list.
    func editedCheckpoint(_ name: String, _ edit: ([TensorView]) -> [TensorView]) throws -> URL {
        let src = try Checkpoint.open(Self.fixtureRoot.appendingPathComponent(name))
        let tensors = try src.weights.infos.map { try src.weights.tensor(named: $0.name) }
        let dir = try makeTempDirectory(self).appendingPathComponent(name)
        try CheckpointWriter().writeDirectory(edit(tensors), configJSON: src.configJSON, sidecars: [], to: dir)
        return dir
    }

    func testMissingTensorIsNamed() throws {
        let missing = "model.layers.1.mlp.up_proj.weight"
        let dir = try editedCheckpoint("llama-gqa") { $0.filter { $0.name != missing } }
        assertRecallError(["missing tensor", missing, "[48, 32]"]) { _ = try LlamaModel(checkpoint: try Checkpoint.open(dir)) }

        let bias = "model.layers.0.self_attn.k_proj.bias"
        let dir2 = try editedCheckpoint("qwen2-bias") { $0.filter { $0.name != bias } }
        assertRecallError(["missing tensor", bias]) { _ = try LlamaModel(checkpoint: try Checkpoint.open(dir2)) }

        let head = "lm_head.weight"
        let dir3 = try editedCheckpoint("llama3-bf16") { $0.filter { $0.name != head } }
        assertRecallError(["missing tensor", head]) { _ = try LlamaModel(checkpoint: try Checkpoint.open(dir3)) }
    }

    func testWrongShapeIsNamed() throws {
        let name = "model.layers.0.self_attn.k_proj.weight"
        let dir = try editedCheckpoint("llama-gqa") { tensors in
            tensors.map { t in
                t.name == name ? TensorView(name: name, shape: [15, 32], float32: [Float](repeating: 0.5, count: 15 * 32)) : t
            }
        }
        assertRecallError([name, "shape [15, 32]", "expected [16, 32]"]) { _ = try LlamaModel(checkpoint: try Checkpoint.open(dir)) }
    }

    func testUnusedTensorsAreIgnored() throws {
        let dir = try editedCheckpoint("llama-gqa") { tensors in
            tensors + [TensorView(name: "model.layers.0.self_attn.rotary_emb.inv_freq", shape: [4], float32: [1, 0.1, 0.01, 0.001])]
        }
        let model = try LlamaModel(checkpoint: try Checkpoint.open(dir))
        let f = try Fixture("llama-gqa")
        XCTAssertEqual(try model.logits([5, 6, 7]), try f.model.logits([5, 6, 7]))
    }

    func testUnsupportedRopeTypeIsRejectedByConfig() throws {
        let src = try Checkpoint.open(Self.fixtureRoot.appendingPathComponent("llama-gqa"))
        guard case .object(var members) = src.configJSON! else { return XCTFail("config is not an object") }
        members.removeAll { $0.0 == "rope_parameters" }
        members.append(("rope_parameters", .object([("rope_type", .string("yarn")), ("rope_theta", .int(10000)), ("factor", .int(4))])))
        let dir = try makeTempDirectory(self).appendingPathComponent("yarn")
        let tensors = try src.weights.infos.map { try src.weights.tensor(named: $0.name) }
        try CheckpointWriter().writeDirectory(tensors, configJSON: .object(members), sidecars: [], to: dir)
        assertRecallError(["yarn", "not supported"]) { _ = try LlamaModel(checkpoint: try Checkpoint.open(dir)) }
    }

    // MARK: Engine details

    /// Weights stream: the F32 arena holds one layer, not the model.
    func testWeightArenaHoldsOneLayer() throws {
        let f = try Fixture("llama3-bf16")
        let c = f.model.config
        let perLayer = c.hiddenSize * (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim
            + c.numAttentionHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize + 2 * c.hiddenSize
        XCTAssertGreaterThanOrEqual(f.model.layerArenaFloats, perLayer)
        XCTAssertLessThan(f.model.layerArenaFloats, perLayer + 16 * 12)
    }

    func testSlidingWindowsFromConfig() throws {
        XCTAssertEqual(try Fixture("mistral-window").model.slidingWindows, [5, 5])
        XCTAssertEqual(try Fixture("qwen2-bias").model.slidingWindows, [nil, nil])
        XCTAssertEqual(try Fixture("llama-gqa").model.slidingWindows, [nil, nil])
    }

    func testVectorExpMatchesFoundation() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let e = Kernels.exp(x)
            worst = max(worst, abs(e - Foundation.exp(x)) / Foundation.exp(x))
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
    }
}
