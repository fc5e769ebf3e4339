import Foundation
import XCTest
@testable import RecallModel
@testable import RecallMerge
import RecallTestSupport

/// RegMean's solve against the dense closed form computed by numpy (Fixtures/regmean, made by
/// tools/gen_regmean_fixture.py), and the Gram sketch's algebra.
final class RegMeanTests: XCTestCase {
    struct Case {
        let name: String
        let dim, out: Int
        let alpha, ridge: Double
        let weights: [Double]
        let inputs: [[Float]]
        let rows: [Int]
        let taskVectors: [[Float]]
        let delta: [Double]
        let topEigenvalues: [Double]
    }

    func cases() throws -> [Case] {
        let json = try Fixtures.json("regmean/cases.json") as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map { c in
            Case(name: c["name"] as! String, dim: c["dim"] as! Int, out: c["out"] as! Int,
                 alpha: (c["alpha"] as! NSNumber).doubleValue, ridge: (c["ridge"] as! NSNumber).doubleValue,
                 weights: (c["weights"] as! [NSNumber]).map(\.doubleValue),
                 inputs: (c["inputs"] as! [[NSNumber]]).map { $0.map(\.floatValue) }, rows: c["rows"] as! [Int],
                 taskVectors: (c["task_vectors"] as! [[NSNumber]]).map { $0.map(\.floatValue) },
                 delta: (c["delta"] as! [NSNumber]).map(\.doubleValue),
                 topEigenvalues: (c["top_eigenvalues_of_first"] as! [NSNumber]).map(\.doubleValue))
        }
    }

    func sketch(_ x: [Float], rows: Int, dim: Int, rank: Int) throws -> GramSketch {
        try x.withUnsafeBufferPointer { try GramSketch.of($0.baseAddress!, rows: rows, dim: dim, ld: dim, rank: rank) }
    }

    func testWoodburySolveMatchesTheDenseClosedForm() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 3)
        for c in all {
            // Full rank: the sketch is exact, so only the solve is under test.
            let sketches = try zip(c.inputs, c.rows).map { try sketch($0, rows: $1, dim: c.dim, rank: min($1, c.dim)) }
            let delta = try XCTUnwrap(RegMeanSolve(alpha: c.alpha, ridge: c.ridge).delta(
                rows: c.out, dim: c.dim, sketches: sketches, weights: c.weights,
                taskVector: { i, into in
                    for j in 0..<into.count { into[j] = c.taskVectors[i][j] }
                    return c.taskVectors[i].contains { $0 != 0 }
                }), c.name)
            XCTAssertEqual(delta.count, c.delta.count, c.name)
            let scale = c.delta.map(abs).max() ?? 1
            let worst = zip(delta, c.delta).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-4 * scale, "\(c.name): max |ours - numpy| = \(worst) (largest entry \(scale))")
        }
    }

    func testZeroTaskVectorsLeaveTheAnchor() throws {
        let c = try cases()[0]
        let sketches = try zip(c.inputs, c.rows).map { try sketch($0, rows: $1, dim: c.dim, rank: 2) }
        let delta = try RegMeanSolve(alpha: 0.9, ridge: 1e-3).delta(rows: c.out, dim: c.dim, sketches: sketches, weights: c.weights,
                                                                   taskVector: { _, into in into.update(repeating: 0); return false })
        XCTAssertNil(delta)
    }

    func testSketchKeepsTheTopEigenvaluesAndTheExactDiagonal() throws {
        for c in try cases() {
            let x = c.inputs[0], n = c.rows[0], d = c.dim
            let s = try sketch(x, rows: n, dim: d, rank: 3)
            XCTAssertEqual(s.rank, 3)
            // L Lᵀ's eigenvalues are the columns' squared norms (orthogonal columns).
            let norms = (0..<3).map { col in (0..<d).reduce(0.0) { $0 + Double(s.factor[$1 * 3 + col] * s.factor[$1 * 3 + col]) } }
            for (got, want) in zip(norms, c.topEigenvalues) { XCTAssertEqual(got, want, accuracy: 1e-4 * want, c.name) }
            for j in 0..<d {
                let exact = (0..<n).reduce(0.0) { $0 + Double(x[$1 * d + j]) * Double(x[$1 * d + j]) }
                XCTAssertEqual(Double(s.diagonal[j]), exact, accuracy: 1e-4 * exact + 1e-6, "\(c.name) diagonal \(j)")
            }
        }
    }

    func testSumOfSketchesIsExactWhenTheRankFits() throws {
        let c = try cases()[0]  // rows 4, 7, 3 of width 12: total rank 14 > 12, so use the first two (11)
        let a = try sketch(c.inputs[0], rows: c.rows[0], dim: c.dim, rank: c.rows[0])
        let b = try sketch(c.inputs[1], rows: c.rows[1], dim: c.dim, rank: c.rows[1])
        let sum = try GramSketch.sum([a, b], weights: [2, 0.5], rank: 11)
        let want = zip(a.dense(), b.dense()).map { 2 * $0 + 0.5 * $1 }
        let got = sum.dense()
        let scale = want.map(abs).max()!
        for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-4 * scale) }
        // Truncated: the diagonal stays exact.
        let small = try GramSketch.sum([a, b], weights: [2, 0.5], rank: 3)
        let wantDiagonal = (0..<c.dim).map { want[$0 * c.dim + $0] }
        for (g, w) in zip(small.diagonal, wantDiagonal) { XCTAssertEqual(Double(g), w, accuracy: 1e-4 * scale) }
    }

    func testSerializedSketchesRoundTripAndTruncationIsNamed() throws {
        let c = try cases()[1]
        let s = try sketch(c.inputs[0], rows: c.rows[0], dim: c.dim, rank: 4)
        let bytes = s.serialized
        var offset = 0
        let back = try bytes.withUnsafeBytes { try GramSketch.read($0, offset: &offset, source: "test") }
        XCTAssertEqual(back, s)
        XCTAssertEqual(offset, bytes.count)
        offset = 0
        assertRecallError(["test", "truncated Gram sketch"]) {
            _ = try Array(bytes.dropLast(3)).withUnsafeBytes { try GramSketch.read($0, offset: &offset, source: "test") }
        }
    }

    func testModuleNamesMapToTheirInputs() {
        XCTAssertEqual(ActivationSite.of(tensor: "model.layers.3.self_attn.k_proj.weight")?.site, .attentionInput)
        XCTAssertEqual(ActivationSite.of(tensor: "model.layers.3.self_attn.k_proj.weight")?.layer, 3)
        XCTAssertEqual(ActivationSite.of(tensor: "model.layers.12.self_attn.o_proj.weight")?.site, .attentionOutput)
        XCTAssertEqual(ActivationSite.of(tensor: "model.layers.0.mlp.up_proj.weight")?.site, .mlpInput)
        XCTAssertEqual(ActivationSite.of(tensor: "model.layers.0.mlp.down_proj.weight")?.site, .mlpHidden)
        XCTAssertNil(ActivationSite.of(tensor: "model.layers.0.self_attn.q_proj.bias"))
        XCTAssertNil(ActivationSite.of(tensor: "model.layers.0.input_layernorm.weight"))
        XCTAssertNil(ActivationSite.of(tensor: "lm_head.weight"))
    }

    /// MagMax against numpy's reading of the published rule (Fixtures/regmean, `magmax`).
    func testMagMaxPicksTheLargestTaskVectorPerElement() throws {
        let json = try Fixtures.json("regmean/cases.json") as! [String: Any]
        let c = json["magmax"] as! [String: Any]
        let base = (c["base"] as! [NSNumber]).map(\.floatValue)
        let models = (c["models"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        let expected = (c["expected"] as! [NSNumber]).map(\.doubleValue)
        var out = [Float](repeating: 0, count: base.count)
        try base.withUnsafeBufferPointer { b in
            let buffers = models.map { m in UnsafeMutableBufferPointer<Float>.allocate(capacity: m.count) }
            defer { buffers.forEach { $0.deallocate() } }
            for (buf, m) in zip(buffers, models) { _ = buf.initialize(from: m) }
            let context = TensorMergeContext(tensorName: "w", base: b, inputs: buffers.map { MergeInput(values: UnsafeBufferPointer($0), parameters: [:]) },
                                             parameters: ["lambda": (c["lambda"] as! NSNumber).doubleValue], seed: 0)
            try out.withUnsafeMutableBufferPointer { try MagMaxMerge().merge(context, into: $0) }
        }
        for (got, want) in zip(out, expected) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
        XCTAssertEqual(try MergeMethods.named("magmax").name, "magmax")
    }
}

