import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// Hand-computable checks of RECALL's parts: clustering, similarity, weighting, fusion.
/// An in-memory model of F32 vectors named by tensor.
func memoryModel(_ name: String, _ values: [String: [Float]]) -> MergeModel {
    MergeModel(name: name, source: MergeMethodTests.Source(values.keys.sorted().map { TensorView(name: $0, shape: [values[$0]!.count], float32: values[$0]!) }))
}

final class RecallComponentTests: XCTestCase {
    func testKMeansFindsSeparatedBlobsAndReturnsRealMedoids() throws {
        var rng = SeededGenerator(seed: 3)
        let centres: [[Float]] = [[0, 0], [10, 10], [-10, 8]]
        var points: [[Float]] = []
        for c in centres { for _ in 0..<20 { points.append([c[0] + Float.random(in: -1...1, using: &rng), c[1] + Float.random(in: -1...1, using: &rng)]) } }
        let selection = try TypicalSampleSelector(clusters: 3, seed: 1).select(points)
        XCTAssertEqual(selection.sizes.sorted(), [20, 20, 20])
        XCTAssertEqual(Set(selection.medoids).count, 3)
        // Each blob is one cluster, and each medoid is a member of its own blob.
        for blob in 0..<3 {
            let labels = Set(selection.assignment[(blob * 20)..<(blob * 20 + 20)])
            XCTAssertEqual(labels.count, 1)
        }
        for (c, m) in selection.medoids.enumerated() { XCTAssertEqual(selection.assignment[m], c) }
        XCTAssertEqual(try TypicalSampleSelector(clusters: 3, seed: 1).select(points), selection, "deterministic")
        // K larger than n: every sample is its own typical sample.
        let small = try TypicalSampleSelector(clusters: 16, seed: 0).select(Array(points.prefix(5)))
        XCTAssertEqual(small.medoids.sorted(), [0, 1, 2, 3, 4])
        assertRecallError(["no samples"]) { _ = try TypicalSampleSelector().select([]) }
    }

    /// reps[model][sample][layer] with the given vectors.
    func reps(_ v: [[[[Float]]]]) -> Representations { Representations(v) }

    func testIdenticalModelsGetEqualWeights() throws {
        let r: [[[Float]]] = [[[1, 2], [3, 4]], [[0, 1], [2, 2]]]  // 2 samples x 2 layers
        let sim = try LayerSimilarity().compute(reps([r, r, r]))
        for matrix in sim.matrices { for row in matrix { for v in row { XCTAssertEqual(v, 1, accuracy: 1e-12) } } }
        let w = try LayerWeighting().weights(sim.matrices)
        for row in w {
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12)
            for v in row { XCTAssertEqual(v, 1.0 / 3, accuracy: 1e-12) }
        }
    }

    func testAModelEqualToTheNewOneAtALayerGetsTheNewOnesWeightThere() throws {
        // Three models, one sample, two layers. Model 1 equals the new model (2) at layer 1 only.
        let newModel: [[Float]] = [[0, 0], [5, 5]]
        let twin: [[Float]] = [[3, 0], [5, 5]]
        let other: [[Float]] = [[1, 1], [0, 9]]
        let sim = try LayerSimilarity().compute(reps([[other], [twin], [newModel]]))
        for score in LayerWeighting.Score.allCases {
            let w = try LayerWeighting(score: score, temperature: 0.1, newModel: 2).weights(sim.matrices)
            XCTAssertEqual(w[1][1], w[1][2], accuracy: 1e-12, "\(score)")
            XCTAssertNotEqual(w[0][1], w[0][2], "\(score): at layer 0 the twin differs")
            for row in w { XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12) }
        }
    }

    func testRBFUsesTheMedianCrossModelDistance() throws {
        // Two models, one sample, distance 2 -> sigma 2 -> s = exp(-4 / 8).
        let sim = try LayerSimilarity().compute(reps([[[[0, 0]]], [[[2, 0]]]]))
        XCTAssertEqual(sim.sigmas[0], 2)
        XCTAssertEqual(sim.matrices[0][0][1], exp(-0.5), accuracy: 1e-12)
        let fixed = try LayerSimilarity(sigma: .fixed(1)).compute(reps([[[[0, 0]]], [[[2, 0]]]]))
        XCTAssertEqual(fixed.matrices[0][0][1], exp(-2), accuracy: 1e-12)
        // Linear CKA is invariant to scaling one model's representations.
        let a: [[[Float]]] = [[[1, 0]], [[0, 2]], [[3, 1]]]
        let b = a.map { $0.map { $0.map { $0 * 7 } } }
        let cka = try LayerSimilarity(kernel: .linearCKA).compute(reps([a, b]))
        XCTAssertEqual(cka.matrices[0][0][1], 1, accuracy: 1e-9)
    }

    /// RBF CKA against the textbook formula computed here with an explicit centring matrix:
    /// CKA = tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)), K and L RBF Gram matrices with sigma
    /// each model's median pairwise sample distance. Also its invariances: moving, rotating or
    /// scaling one model's representations keeps CKA at 1; reordering the samples does not.
    func testRBFCKAMatchesTheFormulaAndItsInvariances() throws {
        let a: [[[Float]]] = [[[0, 0]], [[1, 0]], [[0, 3]], [[2, 2]]]          // 4 samples x 1 layer
        let b: [[[Float]]] = [[[1, 1]], [[0, 2]], [[4, 0]], [[1, 5]]]
        func gram(_ m: [[[Float]]]) -> [[Double]] {
            let rows = m.map { $0[0].map(Double.init) }
            func d(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }
            var all: [Double] = []
            for i in rows.indices { for j in rows.indices where j > i { all.append(d(rows[i], rows[j])) } }
            let sigma = all.sorted()[all.count / 2]
            return rows.map { x in rows.map { y in exp(-pow(d(x, y), 2) / (2 * sigma * sigma)) } }
        }
        func mul(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
            x.indices.map { i in y[0].indices.map { j in x[0].indices.reduce(0.0) { $0 + x[i][$1] * y[$1][j] } } }
        }
        func trace(_ x: [[Double]]) -> Double { x.indices.reduce(0.0) { $0 + x[$1][$1] } }
        let n = a.count
        let h = (0..<n).map { i in (0..<n).map { j in (i == j ? 1.0 : 0.0) - 1.0 / Double(n) } }
        let k = gram(a), l = gram(b)
        let hsic = { (x: [[Double]], y: [[Double]]) in trace(mul(mul(mul(x, h), y), h)) }
        let expected = hsic(k, l) / (hsic(k, k) * hsic(l, l)).squareRoot()
        let sim = try LayerSimilarity(kernel: .rbfCKA).compute(reps([a, b]))
        XCTAssertEqual(sim.matrices[0][0][1], expected, accuracy: 1e-12)
        XCTAssertLessThan(sim.matrices[0][0][1], 0.99, "different arrangements must not look identical")
        XCTAssertNotNil(sim.sigmas[0])

        // Rotated by 90 degrees, moved and scaled: the same arrangement, CKA 1.
        let moved = a.map { $0.map { v in [Float(3) * -v[1] + 10, Float(3) * v[0] - 4] } }
        XCTAssertEqual(try LayerSimilarity(kernel: .rbfCKA).compute(reps([a, moved])).matrices[0][0][1], 1, accuracy: 1e-9)
        // The same points given to different samples: a different arrangement.
        let shuffled: [[[Float]]] = [a[2], a[0], a[3], a[1]]
        XCTAssertLessThan(try LayerSimilarity(kernel: .rbfCKA).compute(reps([a, shuffled])).matrices[0][0][1], 0.99)
    }

    func testLowerTemperatureSharpensTheWeights() throws {
        let matrix: [[Double]] = [[1, 0.9, 0.2], [0.9, 1, 0.3], [0.2, 0.3, 1]]
        let soft = try LayerWeighting(temperature: 1).weights([matrix])[0]
        let sharp = try LayerWeighting(temperature: 0.05).weights([matrix])[0]
        XCTAssertGreaterThan(sharp.max()!, soft.max()!)
        XCTAssertEqual(soft.firstIndex(of: soft.max()!), 1, "model 1 is the most central")
        assertRecallError(["tau"]) { _ = try LayerWeighting(temperature: 0).weights([matrix]) }
    }

    func testRoutingAveragesEachTasksSimilarityToItsOwnExpert() throws {
        // Task 0's probes: model 2 stands in well for expert 0; task 1's probes: model 2 is far from expert 1.
        let onTask0: [[Double]] = [[1, 0.1, 0.8], [0.1, 1, 0.1], [0.8, 0.1, 1]]
        let onTask1: [[Double]] = [[1, 0.4, 0.2], [0.4, 1, 0.2], [0.2, 0.2, 1]]
        let w = try LayerWeighting(score: .routing, temperature: 0.5).routingWeights([(0, [onTask0]), (1, [onTask1])])[0]
        // Scores: model i -> mean(s0[i][0], s1[i][1]) = (1+0.4)/2, (0.1+1)/2, (0.8+0.2)/2.
        let expected = softmax([0.7, 0.55, 0.5].map { $0 / 0.5 })
        for (a, b) in zip(w, expected) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(try MergePlan(method: "recall", options: ["score": "routing"]).method, "recall")
        assertRecallError(["routing"]) { _ = try LayerWeighting(score: .routing).routingWeights([]) }
    }

    func testFusionMapsLayerWeightsOntoTensors() throws {
        let names = ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight",
                     "model.norm.weight", "lm_head.weight"]
        let base = memoryModel("base", Dictionary(uniqueKeysWithValues: names.map { ($0, [Float](repeating: 0, count: 2)) }))
        let a = memoryModel("a", Dictionary(uniqueKeysWithValues: names.map { ($0, [Float](repeating: 1, count: 2)) }))
        let b = memoryModel("b", Dictionary(uniqueKeysWithValues: names.map { ($0, [Float](repeating: 3, count: 2)) }))
        // weights[layer][model] for representation layers 0 (embeddings), 1, 2 (= L).
        let weights: [[Double]] = [[1, 0], [0.5, 0.5], [0, 1]]
        let merged = try MergedCheckpoint(try LayerwiseFusion(lambda: 2).configuration(base: base, models: [a, b], weights: weights))
        func value(_ n: String) throws -> Float { try merged.tensor(named: n).toFloat32()[0] }
        XCTAssertEqual(try value("model.embed_tokens.weight"), 2)            // 2 * (1*1 + 0*3)
        XCTAssertEqual(try value("model.layers.0.mlp.up_proj.weight"), 4)    // layer 1 weights: 2 * (0.5 + 1.5)
        XCTAssertEqual(try value("model.layers.1.mlp.up_proj.weight"), 6)    // layer 2 weights: 2 * 3
        XCTAssertEqual(try value("model.norm.weight"), 6)
        XCTAssertEqual(try value("lm_head.weight"), 6)
        XCTAssertEqual(LayerwiseFusion.weightSetting([0.1, 0.2, 0.3]).value(for: "model.layers.10.x", t: 0), 0.1,
                       "layers.1. must not match layers.10.")
    }
}
