import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// Hand-computable cases for the baseline methods and the parameter machinery.
final class MergeMethodTests: XCTestCase {
    final class Source: TensorSource, @unchecked Sendable {
        let tensors: [TensorView]
        init(_ t: [TensorView]) { tensors = t }
        var infos: [TensorInfo] { tensors.map(\.info) }
        var metadata: [(String, String)] { [] }
        func tensor(named name: String) throws -> TensorView {
            guard let t = tensors.first(where: { $0.name == name }) else { throw RecallError(.notFound, name) }
            return t
        }
    }

    func model(_ name: String, _ values: [String: [Float]], dtype: DType = .f32) -> MergeModel {
        MergeModel(name: name, source: Source(values.keys.sorted().map { TensorView(name: $0, shape: [values[$0]!.count], float32: values[$0]!, as: dtype) }))
    }

    func merged(_ config: MergeConfiguration, _ tensor: String = "w") throws -> [Float] {
        try MergedCheckpoint(config).tensor(named: tensor).toFloat32()
    }

    func testLinearIsAWeightedAverage() throws {
        var a = model("a", ["w": [1, 2, 3, 4]]), b = model("b", ["w": [3, 2, 1, 0]])
        a.parameters["weight"] = 1
        b.parameters["weight"] = 3
        XCTAssertEqual(try merged(MergeConfiguration(method: LinearMerge(), base: nil, models: [a, b])), [2.5, 2, 1.5, 1])
        XCTAssertEqual(try merged(MergeConfiguration(method: LinearMerge(), base: nil, models: [a, b], parameters: ["normalize": 0])), [10, 8, 6, 4])
    }

    func testTaskArithmeticAddsScaledTaskVectors() throws {
        let base = model("base", ["w": [1, 1, 1]])
        var a = model("a", ["w": [2, 1, 0]]), b = model("b", ["w": [1, 3, 1]])
        a.parameters["weight"] = 1
        b.parameters["weight"] = 0.5
        // deltas (1,0,-1) and (0,2,0): base + 1*(1,0,-1) + 0.5*(0,2,0) = (2,2,0); lambda 2 doubles the sum.
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [a, b])), [2, 2, 0])
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [a, b], parameters: ["lambda": 2])), [3, 3, -1])
    }

    func testTiesTrimsElectsSignsAndAveragesAgreeingDeltas() throws {
        let base = model("base", ["w": [0, 0, 0, 0]])
        var a = model("a", ["w": [4, -1, 3, 0.5]]), b = model("b", ["w": [-2, -3, 1, 2.5]])
        a.parameters = ["weight": 1, "density": 0.5]   // keeps 4 and 3
        b.parameters = ["weight": 1, "density": 0.5]   // keeps -3 and 2.5
        // element 0: only a (4) -> 4; element 1: only b (-3) -> -3; element 2: a (3) -> 3; element 3: b (2.5) -> 2.5.
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.ties, base: base, models: [a, b])), [4, -3, 3, 2.5])
        // Without trimming, signs disagree at 0: sum 2 > 0 elects +, only a's 4 counts -> 4/1; the others agree and average.
        a.parameters["density"] = 1; b.parameters["density"] = 1
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.ties, base: base, models: [a, b])), [4, -2, 2, 1.5])
        // An empty tensor has nothing to trim: it merges to an empty tensor instead of failing.
        var c = model("c", ["w": [1], "e": []]), d = model("d", ["w": [2], "e": []])
        c.parameters = ["weight": 1, "density": 0.5]; d.parameters = ["weight": 1, "density": 0.5]
        let emptyBase = model("base", ["w": [0], "e": []])
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.ties, base: emptyBase, models: [c, d]), "e"), [])
        XCTAssertEqual(try merged(MergeConfiguration(method: GeneralizedTaskArithmetic.dareTies, base: emptyBase, models: [c, d]), "e"), [])
    }

    func testSlerpOfOrthogonalVectorsStaysOnTheCircle() throws {
        let base = model("base", ["w": [1, 0]]), other = model("other", ["w": [0, 1]])
        let out = try merged(MergeConfiguration(method: SlerpMerge(), base: base, models: [other], parameters: ["t": 0.5]))
        XCTAssertEqual(out[0], Float(0.5.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(out[1], Float(0.5.squareRoot()), accuracy: 1e-6)
        // Colinear inputs fall back to linear interpolation.
        let twice = model("twice", ["w": [2, 0]])
        XCTAssertEqual(try merged(MergeConfiguration(method: SlerpMerge(), base: base, models: [twice], parameters: ["t": 0.25])), [1.25, 0])
    }

    func testGradientsFollowLayerPositionAndFiltersPickTensors() throws {
        let names = ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight",
                     "model.layers.2.self_attn.q_proj.weight", "model.norm.weight"]
        let base = model("base", Dictionary(uniqueKeysWithValues: names.map { ($0, [Float](repeating: 0, count: 2)) }))
        var b = model("b", Dictionary(uniqueKeysWithValues: names.map { ($0, [Float](repeating: 1, count: 2)) }))
        // Task arithmetic from a zero base with a unit task vector returns the weight itself.
        b.parameters["weight"] = .conditional([.init(filter: "self_attn", value: 0.9), .init(filter: nil, value: .gradient([0, 1]))])
        let config = MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [b])
        XCTAssertEqual(try merged(config, "model.layers.0.mlp.up_proj.weight")[0], 0, accuracy: 1e-6)
        XCTAssertEqual(try merged(config, "model.layers.1.mlp.up_proj.weight")[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(try merged(config, "model.layers.2.self_attn.q_proj.weight")[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(try merged(config, "model.embed_tokens.weight")[0], 0, accuracy: 1e-6, "outside the layers t = 0, as mergekit")
        XCTAssertEqual(try merged(config, "model.norm.weight")[0], 0, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(ParameterSetting.gradient([0, 1, 0.5]).value(for: "x", t: 0.75)), 0.75, accuracy: 1e-12)
    }

    func testDareDropsAtTheRequestedRateDeterministicallyAndKeepsTheL1Norm() throws {
        let n = 20_000
        var rng = SeededGenerator(seed: 4)
        let values = (0..<n).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        let base = model("base", ["w": [Float](repeating: 0, count: n)])
        var a = model("a", ["w": values])
        a.parameters = ["weight": 1, "density": 0.3]
        let config = MergeConfiguration(method: GeneralizedTaskArithmetic.dareLinear, base: base, models: [a], seed: 7)
        let out = try merged(config)
        let kept = out.filter { $0 != 0 }.count
        XCTAssertEqual(Double(kept) / Double(n), 0.3, accuracy: 0.015, "drop rate")
        XCTAssertEqual(Double(out.reduce(0, +)), Double(values.reduce(0, +)), accuracy: 1e-2 * Double(n), "L1 rescale")
        XCTAssertEqual(try merged(config), out, "same seed, same result")
        var other = config
        other.seed = 8
        XCTAssertNotEqual(try merged(other), out)
    }

    func testMismatchesAndNonFiniteWeightsAreNamed() throws {
        let base = model("base", ["w": [1, 2], "v": [1]])
        var wrongShape = model("taskC", ["w": [1, 2, 3], "v": [1]])
        wrongShape.parameters["weight"] = 1
        assertRecallError(["model taskC", "tensor w", "[3]", "[2]"]) {
            _ = try MergedCheckpoint(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [wrongShape]))
        }
        let missing = model("taskD", ["w": [1, 2]])
        assertRecallError(["model taskD", "no tensor v"]) {
            _ = try MergedCheckpoint(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [missing]))
        }
        var nan = model("taskE", ["w": [1, .nan], "v": [1]])
        nan.parameters["weight"] = 1
        let merge = try MergedCheckpoint(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [nan]))
        assertRecallError(["model taskE", "tensor w", "nan", "element 1"]) { _ = try merge.tensor(named: "w") }
        // Methods that read their inputs in several passes (a survey first) refuse it too.
        nan.parameters["density"] = 0.5
        for method in [GeneralizedTaskArithmetic.ties, .dareTies] {
            let multiPass = try MergedCheckpoint(MergeConfiguration(method: method, base: base, models: [nan]))
            assertRecallError(["model taskE", "tensor w", "nan", "element 1"]) { _ = try multiPass.tensor(named: "w") }
        }
        let noWeight = model("taskF", ["w": [1, 2], "v": [1]])
        let merge2 = try MergedCheckpoint(MergeConfiguration(method: GeneralizedTaskArithmetic.taskArithmetic, base: base, models: [noWeight]))
        assertRecallError(["model taskF", "weight is required"]) { _ = try merge2.tensor(named: "w") }
        assertRecallError(["needs a base"]) { _ = try MergedCheckpoint(MergeConfiguration(method: SlerpMerge(), base: nil, models: [noWeight])) }
        assertRecallError(["\"frankenmerge\"", "not known"]) { _ = try MergeMethods.named("frankenmerge") }
    }

    /// Tensors larger than a chunk take the streamed path (several chunks over both cores, a
    /// ragged last one): the result must equal the method applied to the whole tensors at once,
    /// bit for bit, with BF16 inputs widened and the output narrowed to BF16; a NaN in a late
    /// chunk is reported at its element, for the first model (in order) that has one.
    func testChunkedElementwiseMergesEqualTheWholeTensorMaths() throws {
        let n = 3 * MergedCheckpoint.chunkElements + 1234
        var rng = SplitMix(seed: 7)
        func random() -> [Float] { (0..<n).map { _ in Float(Int64(bitPattern: rng.next() % 20001) - 10000) / 997 } }
        let base = model("base", ["w": random()], dtype: .bf16)
        var models = (0..<3).map { model("m\($0)", ["w": random()], dtype: .bf16) }
        for (i, w) in [0.7, -0.2, 1.3].enumerated() { models[i].parameters["weight"] = .scalar(w) }
        for (method, usesBase, params) in [(LinearMerge() as MergeMethod, false, ["normalize": ParameterSetting.scalar(1)]),
                                           (GeneralizedTaskArithmetic.taskArithmetic, true, ["lambda": .scalar(1.7)])] {
            XCTAssertTrue(method.elementwise)
            let config = MergeConfiguration(method: method, base: usesBase ? base : nil, models: models, parameters: params)
            let streamed = try MergedCheckpoint(config).tensor(named: "w")
            XCTAssertEqual(streamed.dtype, .bf16)
            // The reference: the method's maths on whole F32 arrays, narrowed once.
            let whole = try models.map { try $0.source.tensor(named: "w").toFloat32() }
            let b = try base.source.tensor(named: "w").toFloat32()
            var out = [Float](repeating: 0, count: n)
            try withBuffers(whole) { bufs in
                try b.withUnsafeBufferPointer { bb in
                    try out.withUnsafeMutableBufferPointer { o in
                        let inputs = zip(bufs, [0.7, -0.2, 1.3]).map { MergeInput(values: $0, parameters: ["weight": $1]) }
                        let global = params.mapValues { $0.value(for: "w", t: 0)! }.merging(method.defaultParameters) { a, _ in a }
                        try method.merge(TensorMergeContext(tensorName: "w", base: usesBase ? bb : nil, inputs: inputs, parameters: global, seed: 0), into: o)
                    }
                }
            }
            let expected = TensorView(name: "w", shape: [n], float32: out, as: .bf16)
            XCTAssertEqual(Array(streamed.bytes), Array(expected.bytes), method.name)
        }
        // NaN at a late element of the second model and an earlier-chunk Inf in the third.
        var bad1 = try models[1].source.tensor(named: "w").toFloat32(), bad2 = try models[2].source.tensor(named: "w").toFloat32()
        bad1[n - 5] = .nan
        bad2[10] = .infinity
        var broken = models
        broken[1] = model("m1", ["w": bad1], dtype: .bf16); broken[1].parameters["weight"] = 1
        broken[2] = model("m2", ["w": bad2], dtype: .bf16); broken[2].parameters["weight"] = 1
        let merge = try MergedCheckpoint(MergeConfiguration(method: LinearMerge(), base: nil, models: broken))
        assertRecallError(["model m1", "tensor w", "element \(n - 5)", "non-finite"]) { _ = try merge.tensor(named: "w") }
    }

    /// TIES and DARE merge chunk by chunk after surveying the tensor (magnitude thresholds, tie
    /// counts per chunk, L1 norms). Over several chunks, with many deltas tied at the threshold
    /// across chunk boundaries, a zero threshold, and the L1 rescale, the result must equal a plain
    /// whole-tensor reference written here: a sort for the top-k (ties kept in position order),
    /// one generator drawn in order for DARE, sums in the obvious order. Values are multiples of
    /// 1/8, so every L1 sum is exact in any order and the comparison can be bit for bit.
    func testSurveyedChunkedTrimmingEqualsAWholeTensorReference() throws {
        let n = 3 * MergedCheckpoint.chunkElements + 1234
        var rng = SplitMix(seed: 21)
        func random(_ spread: UInt64) -> [Float] { (0..<n).map { _ in Float(Int64(bitPattern: rng.next() % (2 * spread + 1)) - Int64(spread)) / 8 } }
        let b = random(8)
        // Model 0: few distinct deltas (ties at every threshold); model 1: mostly equal to the
        // base (threshold 0 at density 0.5); model 2: spread out.
        let x0 = zip(b, random(3)).map { $0 + $1 }
        let x1 = b.enumerated().map { i, v in i % 5 == 0 ? v + Float(i % 7) / 8 - 0.375 : v }
        let x2 = zip(b, random(40)).map { $0 + $1 }
        let weights: [Float] = [1, 0.6, -0.3]
        let base = model("base", ["w": b])
        var models = [model("m0", ["w": x0]), model("m1", ["w": x1]), model("m2", ["w": x2])]

        func reference(_ method: GeneralizedTaskArithmetic, densities: [Double], rescale: Bool, normalize: Bool, lambda: Float, seed: UInt64) -> [Float] {
            let deltas = [x0, x1, x2].enumerated().map { i, x -> [Float] in
                var d = zip(x, b).map { $0 - $1 }
                if densities[i] < 1 {
                    let before = d.reduce(0.0) { $0 + Double(abs($1)) }
                    switch method.sparsification {
                    case .magnitude:
                        let order = d.indices.sorted { abs(d[$0]) != abs(d[$1]) ? abs(d[$0]) > abs(d[$1]) : $0 < $1 }
                        for j in order[Int(densities[i] * Double(n))...] { d[j] = 0 }
                    case .random:
                        var r = SplitMix(seed: (seed ^ fnv1a("w")) &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                        let cut = UInt64(densities[i] * Double(UInt64.max))
                        for j in d.indices where r.next() >= cut { d[j] = 0 }
                    case .none: break
                    }
                    let after = d.reduce(0.0) { $0 + Double(abs($1)) }
                    if rescale, before >= 1e-7, after >= 1e-7 { d = d.map { $0 * Float(before / after) } }
                }
                return d.map { $0 * weights[i] }
            }
            return (0..<n).map { k in
                var mixed: Float = 0, divisor: Float = 0
                if method.consensus {
                    let sum = deltas.reduce(Float(0)) { $0 + $1[k] }
                    for (i, d) in deltas.enumerated() where d[k] != 0 && (d[k] > 0) == (sum >= 0) { mixed += d[k]; divisor += weights[i] }
                    if divisor == 0 { divisor = 1 }
                } else {
                    for d in deltas { mixed += d[k] }
                    divisor = weights.reduce(0, +)
                }
                if normalize { mixed /= divisor }
                return b[k] + mixed * lambda
            }
        }

        let cases: [(GeneralizedTaskArithmetic, [Double], Bool, Bool)] = [
            (.ties, [0.3, 0.5, 0.7], false, true),
            (.ties, [0.2, 0.5, 1], true, false),
            (.dareTies, [0.5, 0.9, 0.3], true, false),
            (.dareLinear, [0.4, 0.4, 0.6], false, false),
        ]
        var splitTies = false
        for (method, densities, rescale, normalize) in cases {
            for i in 0..<3 { models[i].parameters = ["weight": .scalar(Double(weights[i])), "density": .scalar(densities[i])] }
            let config = MergeConfiguration(method: method, base: base, models: models,
                                            parameters: ["rescale": .scalar(rescale ? 1 : 0), "normalize": .scalar(normalize ? 1 : 0), "lambda": 1.5], seed: 9)
            let got = try merged(config)
            let expected = reference(method, densities: densities, rescale: rescale, normalize: normalize, lambda: 1.5, seed: 9)
            let differing = (0..<n).filter { got[$0].bitPattern != expected[$0].bitPattern }
            XCTAssertEqual(differing.count, 0, "\(method.name) \(densities): first at \(differing.first.map { "\($0): \(got[$0]) vs \(expected[$0])" } ?? "")")
            // The case must exercise what it is about: ties at model 0's threshold, some kept, some not.
            if method.sparsification == .magnitude {
                let d = zip(x0, b).map { abs($0 - $1) }
                let threshold = d.sorted(by: >)[Int(densities[0] * Double(n)) - 1]
                let tied = d.filter { $0 == threshold }.count, above = d.filter { $0 > threshold }.count
                if threshold > 0 && above < Int(densities[0] * Double(n)) && above + tied > Int(densities[0] * Double(n)) { splitTies = true }
            }
        }
        XCTAssertTrue(splitTies, "no case splits the ties at a threshold")
    }

    /// Streamed passes release mapped input pages only in whole 2 MiB windows of the file (a
    /// huge page-table entry is never split): the window arithmetic, at and around the edges.
    func testMappedPagesAreReleasedInWholeAlignedWindows() {
        let mib2 = 2 << 20
        XCTAssertEqual(MappedFile.releasable(offset: 0, count: mib2, granule: mib2), 0 ..< mib2)
        XCTAssertNil(MappedFile.releasable(offset: 1, count: mib2, granule: mib2), "a misaligned 2 MiB range holds no whole window")
        XCTAssertEqual(MappedFile.releasable(offset: 100, count: 3 * mib2, granule: mib2), mib2 ..< 3 * mib2)
        XCTAssertEqual(MappedFile.releasable(offset: mib2 - 1, count: mib2 + 1, granule: mib2), mib2 ..< 2 * mib2)
        XCTAssertNil(MappedFile.releasable(offset: mib2 + 1, count: mib2 - 2, granule: mib2))
        XCTAssertEqual(MappedFile.releasable(offset: 4095, count: 8194, granule: 4096), 4096 ..< 12288)
        // A BF16 block of the streamed path (64 chunks, 8 MiB) always holds at least three windows.
        let block = 64 * MergedCheckpoint.chunkElements * 2
        for offset in stride(from: 0, to: mib2, by: 4096 + 2) {
            XCTAssertGreaterThanOrEqual(MappedFile.releasable(offset: offset, count: block, granule: mib2)!.count, 3 * mib2)
        }
    }

    /// TIES over memory-mapped files whose tensor is larger than the survey residency budget:
    /// every survey pass then gives its pages back and the next faults them in again. The merge
    /// must equal the same merge over in-memory copies (which release nothing), bit for bit.
    func testSurveyPassesOverLargeMappedTensorsReleasePagesAndKeepTheResult() throws {
        let n = 23 << 18  // 23 MiB of F32 per input, 69 MiB for base + 2 models
        XCTAssertGreaterThan(3 * n * 4, TensorChunks.surveyResidencyBudget)
        let dir = try makeTempDirectory(self)
        var rng = SplitMix(seed: 33)
        var arrays: [[Float]] = []
        var mapped: [MergeModel] = [], memory: [MergeModel] = []
        for (i, name) in ["base", "m0", "m1"].enumerated() {
            let values = [Float](unsafeUninitializedCapacity: n) { v, count in
                for k in 0..<n { v[k] = Float(Int64(bitPattern: rng.next() % 2001) - 1000) / Float(64 + i) }
                count = n
            }
            arrays.append(values)
            let url = dir.appendingPathComponent("\(name).safetensors")
            try SafeTensorsWriter().write([TensorView(name: "w", shape: [n], float32: values)], to: url)
            mapped.append(MergeModel(name: name, source: try SafeTensorsFile(url: url)))
            memory.append(model(name, ["w": values]))
        }
        func config(_ models: [MergeModel]) -> MergeConfiguration {
            var ms = Array(models.dropFirst())
            for i in ms.indices { ms[i].parameters = ["weight": .scalar(1 - 0.3 * Double(i)), "density": .scalar(0.4 + 0.2 * Double(i))] }
            return MergeConfiguration(method: GeneralizedTaskArithmetic.ties, base: models[0], models: ms, parameters: ["normalize": .scalar(1)])
        }
        let fromFiles = try MergedCheckpoint(config(mapped)).tensor(named: "w")
        let fromMemory = try MergedCheckpoint(config(memory)).tensor(named: "w")
        XCTAssertEqual(fromFiles.elementCount, n)
        XCTAssertTrue(fromFiles.bytes.elementsEqual(fromMemory.bytes), "mapped and in-memory TIES differ")
        // And the merge did something: the output is neither the base nor any model.
        let out = try fromFiles.toFloat32()
        for a in arrays { XCTAssertNotEqual(out, a) }
    }
}
