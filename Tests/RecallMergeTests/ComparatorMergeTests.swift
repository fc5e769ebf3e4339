import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// The comparator methods (Iso-C, Iso-CTS, TSV-M, OPCM, MagMax) against numpy's dense float64
/// reading of their published formulas (Fixtures/comparators, tools/gen_comparator_fixture.py),
/// on dense task vectors and on LoRA factors (our core-space path), and their option checks.
final class ComparatorMergeTests: XCTestCase {
    struct Case {
        let name: String
        let rows, cols: Int
        let form: String
        let tasks: [TaskMatrix]
        let denseTasks: [[Float]]
        let fraction: Double
        let sizes: [Int]
        let expected: [String: [Double]]
    }

    static func doubles(_ any: Any?) -> [Double] { (any as! [NSNumber]).map(\.doubleValue) }
    static func floats(_ any: Any?) -> [Float] { (any as! [NSNumber]).map(\.floatValue) }

    static func factors(_ c: [String: Any], rows: Int, cols: Int) -> [LowRankFactors] {
        let r = c["rank"] as! Int
        return zip(c["b"] as! [[NSNumber]], c["a"] as! [[NSNumber]]).map { b, a in
            LowRankFactors(rows: rows, cols: cols, rank: r, b: b.map(\.floatValue), a: a.map(\.floatValue), scale: 1)
        }
    }

    /// `B A` rounded to F32: what a dense F32 checkpoint of the same update holds.
    static func dense(_ f: LowRankFactors) -> [Float] { f.dense().data.map { Float($0) } }

    func fixture() throws -> [String: Any] { try Fixtures.json("comparators/cases.json") as! [String: Any] }

    func cases() throws -> [Case] {
        try (fixture()["cases"] as! [[String: Any]]).map { c in
            let rows = c["rows"] as! Int, cols = c["cols"] as! Int, form = c["form"] as! String
            let tasks: [TaskMatrix], dense: [[Float]]
            if form == "lora" {
                let f = Self.factors(c, rows: rows, cols: cols)
                tasks = f.map { .factored($0) }
                dense = f.map(Self.dense)
            } else {
                dense = (c["task_vectors"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
                tasks = dense.map { .dense($0) }
            }
            var expected: [String: [Double]] = [:]
            for key in ["iso_c", "iso_cts", "tsv_m", "task_arithmetic_sum"] { expected[key] = Self.doubles(c[key]) }
            return Case(name: c["name"] as! String, rows: rows, cols: cols, form: form, tasks: tasks, denseTasks: dense,
                        fraction: (c["common_fraction"] as! NSNumber).doubleValue, sizes: c["iso_cts_sizes"] as! [Int], expected: expected)
        }
    }

    func assertClose(_ got: [Double], _ want: [Double], relative: Double = 1e-5, _ message: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, message, file: file, line: line)
        let scale = max(want.map(abs).max() ?? 0, 1e-30)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, relative * scale, "\(message): max |ours - numpy| = \(worst) (largest entry \(scale))", file: file, line: line)
    }

    func core(_ method: String, _ subspace: TaskSubspace, fraction: Double) throws -> [Double] {
        switch method {
        case "iso_c": return subspace.expand(try IsoCMerge().mergedCore(subspace, parameters: [:])).data
        case "iso_cts": return subspace.expand(try IsoCTSMerge().mergedCore(subspace, parameters: ["common_fraction": fraction])).data
        default: return subspace.expand(try TSVMerge().mergedCore(subspace, parameters: [:])).data
        }
    }

    // MARK: Iso-C, Iso-CTS, TSV-M

    func testSubspaceMethodsMatchThePublishedFormulasOnDenseTaskVectors() throws {
        let dense = try cases().filter { $0.form == "dense" }
        XCTAssertEqual(dense.count, 2)
        for c in dense {
            let subspace = try TaskSubspace(rows: c.rows, cols: c.cols, tasks: c.tasks)
            XCTAssertFalse(subspace.isCoreSpace)
            for method in ["iso_c", "iso_cts", "tsv_m"] {
                assertClose(try core(method, subspace, fraction: c.fraction), c.expected[method]!, "\(c.name) \(method)")
            }
        }
    }

    func testLoRAFactorsGiveTheSameMergeFromTheCoreSpace() throws {
        let lora = try cases().filter { $0.form == "lora" }
        XCTAssertEqual(lora.count, 2)
        for c in lora {
            let subspace = try TaskSubspace(rows: c.rows, cols: c.cols, tasks: c.tasks)
            XCTAssertTrue(subspace.isCoreSpace, c.name)
            // The core is (T r) x (T r), not rows x cols.
            let totalRank = c.tasks.reduce(0) { if case let .factored(f) = $1 { return $0 + f.rank }; return $0 }
            XCTAssertEqual(subspace.cores[0].rows, totalRank, c.name)
            XCTAssertEqual(subspace.cores[0].cols, totalRank, c.name)
            // Task arithmetic's sum survives the change of coordinates exactly.
            let sum = subspace.expand(subspace.cores.dropFirst().reduce(subspace.cores[0], +)).data
            assertClose(sum, c.expected["task_arithmetic_sum"]!, relative: 1e-12, "\(c.name) sum")
            for method in ["iso_c", "iso_cts", "tsv_m"] {
                assertClose(try core(method, subspace, fraction: c.fraction), c.expected[method]!, relative: 1e-9, "\(c.name) \(method) (factors)")
            }
        }
    }

    func testDenseF32CopiesOfLoRAUpdatesAgreeWithTheFactors() throws {
        // The same LoRA updates handed over densely (rounded to F32, so full rank at 1e-7):
        // the zero-singular-value rule must still see their true rank.
        for c in try cases().filter({ $0.form == "lora" }) {
            let subspace = try TaskSubspace(rows: c.rows, cols: c.cols, tasks: c.denseTasks.map { .dense($0) })
            for method in ["iso_c", "iso_cts", "tsv_m"] {
                assertClose(try core(method, subspace, fraction: c.fraction), c.expected[method]!, relative: 1e-4, "\(c.name) \(method) (dense F32)")
            }
        }
    }

    /// LoRA experts stored as full BF16 weights carry a full-rank rounding floor under their
    /// rank-r update; `task_rank = r` cuts each back to its rank-r factors (randomized range
    /// finder) and lands on the factors' merge, where the plain dense formula does not (Iso-C
    /// lifts every floor direction to the mean singular value).
    func testTaskRankRecoversLoRAUpdatesFromNoisyDenseCopies() throws {
        for c in try cases().filter({ $0.form == "lora" }) {
            let r = c.tasks.compactMap { if case let .factored(f) = $0 { return f.rank }; return nil }.first!
            var rng = SeededGenerator(seed: 11)
            let rms = (c.denseTasks.flatMap { $0 }.reduce(0.0) { $0 + Double($1 * $1) } / Double(c.denseTasks.count * c.rows * c.cols)).squareRoot()
            let noisy = c.denseTasks.map { tau in tau.map { $0 + Float(2e-3 * rms) * Float.random(in: -1..<1, using: &rng) } }
            let base = [Float](repeating: 0, count: c.rows * c.cols)
            for (method, key) in [(IsoCMerge() as MergeMethod, "iso_c"), (IsoCTSMerge(), "iso_cts"), (TSVMerge(), "tsv_m")] {
                var parameters: [String: Double] = ["common_fraction": c.fraction]
                if key != "iso_cts" { parameters = [:] }
                let want = c.expected[key]!
                let scale = want.map(abs).max()!
                let plain = try run(method, name: "w", shape: [c.rows, c.cols], base: base, models: noisy, parameters: parameters)
                let plainError = zip(plain, want).map { abs(Double($0) - $1) }.max()!
                parameters["task_rank"] = Double(r)
                let cut = try run(method, name: "w", shape: [c.rows, c.cols], base: base, models: noisy, parameters: parameters)
                let cutError = zip(cut, want).map { abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(cutError, 2e-2 * scale, "\(c.name) \(key) with task_rank \(r)")
                XCTAssertLessThan(cutError * 4, plainError, "\(c.name) \(key): the rank cut must beat the noisy dense formula")
            }
        }
        // On exact low-rank input the recovered factors are the update itself.
        let c = try cases().first { $0.form == "lora" }!
        let tau = DMatrix(rows: c.rows, cols: c.cols, data: c.denseTasks[0].map(Double.init))
        let f = try LowRankFactors.recovered(from: tau, rank: 2, seed: 3)
        XCTAssertEqual(f.rank, 2)
        for (a, b) in zip(f.dense().data, tau.data) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testIsoCTSSizesFollowThePublishedRounding() throws {
        for c in try cases() {
            let (k, s) = IsoCTSMerge.sizes(rows: c.rows, cols: c.cols, tasks: c.tasks.count, fraction: c.fraction)
            XCTAssertEqual([k, s], c.sizes, c.name)
        }
        // min 10, f 0.75: k = 7, (10 - 7) / 2 = 1.5 rounds half to even -> 2 per task x 2, k = 6.
        XCTAssertEqual(IsoCTSMerge.sizes(rows: 10, cols: 12, tasks: 2, fraction: 0.75).common, 6)
        XCTAssertEqual(TSVMerge.share(rows: 12, cols: 10, tasks: 3), 3)
    }

    /// Through the engine's interface: θ0 + λ Δ on the matrix, θ0 + λ mean τ on a bias.
    func testMergeMethodsScaleTheUpdateAndAverageOtherTensors() throws {
        let c = try cases()[0]
        let n = c.rows * c.cols
        var rng = SeededGenerator(seed: 7)
        let base = (0..<n).map { _ in Float.random(in: -1..<1, using: &rng) }
        let models = c.denseTasks.map { tau in zip(base, tau).map { $0 + $1 } }
        for (method, key) in [(IsoCMerge() as MergeMethod, "iso_c"), (IsoCTSMerge(), "iso_cts"), (TSVMerge(), "tsv_m")] {
            var parameters: [String: Double] = ["lambda": 0.5]
            if key == "iso_cts" { parameters["common_fraction"] = c.fraction }
            let out = try run(method, name: "model.layers.0.mlp.up_proj.weight", shape: [c.rows, c.cols], base: base, models: models, parameters: parameters)
            assertClose(zip(out, base).map { Double($0) - Double($1) }, c.expected[key]!.map { 0.5 * $0 }, relative: 1e-5, "\(key) via merge")
            // A 1-D tensor and an embedding: λ times the mean task vector.
            for (name, shape) in [("model.norm.weight", [n]), ("model.embed_tokens.weight", [c.rows, c.cols])] {
                let mean = try run(method, name: name, shape: shape, base: base, models: models, parameters: parameters)
                for k in 0..<n {
                    let want = Double(base[k]) + 0.5 * c.denseTasks.reduce(0.0) { $0 + Double($1[k]) } / Double(c.denseTasks.count)
                    XCTAssertEqual(Double(mean[k]), want, accuracy: 1e-6, "\(key) \(name) element \(k)")
                }
            }
        }
    }

    func run(_ method: MergeMethod, name: String, shape: [Int], base: [Float], models: [[Float]], parameters: [String: Double],
             factors: [LowRankFactors]? = nil) throws -> [Float] {
        var out = [Float](repeating: 0, count: base.count)
        try base.withUnsafeBufferPointer { b in
            try withBuffers(models) { buffers in
                let context = TensorMergeContext(tensorName: name, base: b, inputs: factors == nil ? buffers.map { MergeInput(values: $0, parameters: [:]) } : [],
                                                 parameters: parameters, seed: 0, shape: shape, factors: factors)
                try out.withUnsafeMutableBufferPointer { try method.merge(context, into: $0) }
            }
        }
        return out
    }

    /// Two PEFT adapters on the same F32 base (Fixtures/lora plain and rslora): the engine takes
    /// their factors (core space) and lands where the dense applied models land.
    func testAdaptersMergeFromTheirFactorsLikeTheirDenseModels() throws {
        let base = try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded"))
        let adapters = try ["plain", "rslora"].map { try LoRAApplier(base: base.weights, adapterDirectory: Fixtures.url("lora/\($0)")) }
        let q = "model.layers.0.self_attn.q_proj.weight", k = "model.layers.1.self_attn.k_proj.weight"
        let f = try adapters[0].lowRankDelta(named: q, over: base.weights)
        XCTAssertEqual(f?.rank, 4)
        XCTAssertEqual(try adapters[0].lowRankDelta(named: k, over: base.weights)?.rank, 0)  // plain leaves k_proj alone
        XCTAssertNil(try adapters[0].lowRankDelta(named: q, over: adapters[1]))  // not over that base
        for method in [IsoCMerge() as MergeMethod, IsoCTSMerge(), TSVMerge()] {
            let factored = try MergedCheckpoint(MergeConfiguration(
                method: method, base: MergeModel(name: "base", source: base.weights),
                models: adapters.map { MergeModel(name: $0.adapter.directory.lastPathComponent, source: $0) }))
            let dense = try MergedCheckpoint(MergeConfiguration(
                method: method, base: MergeModel(name: "base", source: base.weights),
                models: adapters.map { MergeModel(name: "dense", source: DenseOnly($0)) }))
            XCTAssertNotNil(try factored.lowRankFactors(of: q, shape: base.weights.info(named: q)!.shape))
            XCTAssertNil(try dense.lowRankFactors(of: q, shape: base.weights.info(named: q)!.shape))
            for name in [q, k] {
                let w0 = try base.weights.tensor(named: name).toFloat32().map(Double.init)
                let a = try factored.tensor(named: name).toFloat32().map(Double.init)
                let b = try dense.tensor(named: name).toFloat32().map(Double.init)
                let da = zip(a, w0).map { $0 - $1 }, db = zip(b, w0).map { $0 - $1 }
                XCTAssertGreaterThan(da.map(abs).max()!, 1e-3, "\(method.name) \(name) moved")
                assertClose(da, db, relative: 1e-3, "\(method.name) \(name) factors vs dense")
            }
        }
    }

    /// A source that hides its LoRA factors: the engine's dense path.
    final class DenseOnly: TensorSource, @unchecked Sendable {
        let inner: TensorSource
        init(_ inner: TensorSource) { self.inner = inner }
        var infos: [TensorInfo] { inner.infos }
        var metadata: [(String, String)] { [] }
        func tensor(named name: String) throws -> TensorView { try inner.tensor(named: name) }
    }

    // MARK: OPCM

    func opcmModels(_ c: [String: Any]) -> (base: MaterialisedSource, tasks: [TensorSource], dense: [[Float]]) {
        let rows = c["rows"] as! Int, cols = c["cols"] as! Int
        let mats: [[Float]] = (c["form"] as! String) == "lora" ? Self.factors(c, rows: rows, cols: cols).map(Self.dense)
            : (c["task_vectors"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        let biases = (c["biases"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
        let w = "model.layers.0.self_attn.q_proj.weight", b = "model.layers.0.self_attn.q_proj.bias"
        let base = MaterialisedSource([TensorView(name: w, shape: [rows, cols], float32: [Float](repeating: 0, count: rows * cols)),
                                       TensorView(name: b, shape: [rows], float32: [Float](repeating: 0, count: rows))])
        let tasks = zip(mats, biases).map { m, bias in
            MaterialisedSource([TensorView(name: w, shape: [rows, cols], float32: m), TensorView(name: b, shape: [rows], float32: bias)]) as TensorSource
        }
        return (base, tasks, mats)
    }

    func testOPCMMatchesTheSequentialProjectionAndRescale() throws {
        let all = try fixture()["opcm"] as! [[String: Any]]
        XCTAssertEqual(all.count, 3)
        for c in all {
            let name = c["name"] as! String, alpha = (c["alpha"] as! NSNumber).doubleValue
            let (base, tasks, _) = opcmModels(c)
            let merge = try OPCMMerge(base: base, tasks: tasks.enumerated().map { OPCMMerge.Task(name: "t\($0)", source: $1) }, alpha: alpha)
            XCTAssertEqual(merge.state.lambda, (c["lambda"] as! NSNumber).doubleValue, accuracy: 1e-6, name)
            for (got, want) in zip(merge.state.norms, Self.doubles(c["norms"])) { XCTAssertEqual(got, want, accuracy: 1e-6 * want, name) }
            let w = try merge.tensor(named: "model.layers.0.self_attn.q_proj.weight").toFloat32().map(Double.init)
            let b = try merge.tensor(named: "model.layers.0.self_attn.q_proj.bias").toFloat32().map(Double.init)
            assertClose(w, Self.doubles(c["merged_w"]), relative: 1e-5, "\(name) weight")
            assertClose(b, Self.doubles(c["merged_b"]), relative: 1e-5, "\(name) bias")

            // Resuming from the merge of the first T-1 (the registry's sequential step) lands on the same model.
            let rows = c["rows"] as! Int, cols = c["cols"] as! Int
            let previous = MaterialisedSource([
                TensorView(name: "model.layers.0.self_attn.q_proj.weight", shape: [rows, cols], float32: Self.floats(c["previous_w"])),
                TensorView(name: "model.layers.0.self_attn.q_proj.bias", shape: [rows], float32: Self.floats(c["previous_b"]))])
            let state = OPCMMerge.State(lambda: (c["previous_lambda"] as! NSNumber).doubleValue, norms: Self.doubles(c["previous_norms"]))
            XCTAssertEqual(OPCMMerge.State(json: state.json), state)
            let step = try OPCMMerge(base: base, tasks: [OPCMMerge.Task(name: "last", source: tasks.last!)], previous: (previous, state), alpha: alpha)
            XCTAssertEqual(step.state.lambda, merge.state.lambda, accuracy: 1e-5, "\(name) resumed lambda")
            assertClose(try step.tensor(named: "model.layers.0.self_attn.q_proj.weight").toFloat32().map(Double.init),
                        Self.doubles(c["merged_w"]), relative: 1e-4, "\(name) resumed weight")
        }
    }

    func testOPCMRunsLoRAFactorsInTheCoreSpace() throws {
        let c = (try fixture()["opcm"] as! [[String: Any]]).first { ($0["form"] as! String) == "lora" }!
        let rows = c["rows"] as! Int, cols = c["cols"] as! Int, alpha = (c["alpha"] as! NSNumber).doubleValue
        let subspace = try TaskSubspace(rows: rows, cols: cols, tasks: Self.factors(c, rows: rows, cols: cols).map { .factored($0) })
        XCTAssertTrue(subspace.isCoreSpace)
        var psi = subspace.cores[0], splits: [[Int]] = []
        for core in subspace.cores.dropFirst() {
            let step = try OPCMMerge.clean(core, against: psi, alpha: alpha)
            psi = psi + step.cleaned
            splits.append([step.split, step.rank])
        }
        XCTAssertEqual(splits, c["splits"] as! [[Int]])
        // Unscaled Ψ_T; the fixture's merged weight is Ψ_T / λ_T.
        let lambda = (c["lambda"] as! NSNumber).doubleValue
        assertClose(subspace.expand(psi).data.map { $0 / lambda }, Self.doubles(c["merged_w"]), relative: 1e-9, "opcm core space")
    }

    // MARK: MagMax, options

    func testMagMaxOnTheSameTaskVectors() throws {
        let json = try fixture(), m = json["magmax"] as! [String: Any]
        let c = try cases().first { $0.name == (m["case"] as! String) }!
        let n = c.rows * c.cols, base = [Float](repeating: 0.25, count: n)
        let models = c.denseTasks.map { tau in zip(base, tau).map { $0 + $1 } }
        var out = [Float](repeating: 0, count: n)
        try base.withUnsafeBufferPointer { b in
            try withBuffers(models) { buffers in
                let context = TensorMergeContext(tensorName: "w", base: b, inputs: buffers.map { MergeInput(values: $0, parameters: [:]) },
                                                 parameters: ["lambda": (m["lambda"] as! NSNumber).doubleValue], seed: 0)
                try out.withUnsafeMutableBufferPointer { try MagMaxMerge().merge(context, into: $0) }
            }
        }
        assertClose(out.map { Double($0) - 0.25 }, Self.doubles(m["delta"]), relative: 1e-6, "magmax")
    }

    func testMethodsAreKnownByName() throws {
        for name in ["iso_c", "iso_cts", "tsv_m", "magmax"] { XCTAssertEqual(try MergeMethods.named(name).name, name) }
        XCTAssertEqual(try MergePlan(method: "iso_cts", options: ["common_fraction": "0.5", "lambda": "1.2"]).method, "iso_cts")
        XCTAssertEqual(try MergePlan(method: "opcm", options: ["alpha": "0.7"]).method, "opcm")
    }

    func testBadOptionsAreRefusedNamingTheOption() {
        assertRecallError(["lambda=-1", "positive"]) { _ = try MergePlan(method: "iso_c", options: ["lambda": "-1"]) }
        assertRecallError(["'density'", "not a iso_c option", "lambda"]) { _ = try MergePlan(method: "iso_c", options: ["density": "0.5"]) }
        assertRecallError(["common_fraction=1.5", "(0, 1]"]) { _ = try MergePlan(method: "iso_cts", options: ["common_fraction": "1.5"]) }
        assertRecallError(["'rank'", "not a tsv_m option"]) { _ = try MergePlan(method: "tsv_m", options: ["rank": "4"]) }
        assertRecallError(["alpha=1", "(0, 1)"]) { _ = try MergePlan(method: "opcm", options: ["alpha": "1"]) }
        assertRecallError(["'lambda'", "not an opcm option"]) { _ = try MergePlan(method: "opcm", options: ["lambda": "2"]) }
        assertRecallError(["lambda=0", "positive"]) { try TSVMerge().checkParameters(["lambda": 0]) }
        assertRecallError(["task_rank=2.5", "whole number"]) { _ = try MergePlan(method: "tsv_m", options: ["task_rank": "2.5"]) }
    }

    /// A seed above Int64.max once passed init and then trapped every register at commit (the
    /// provenance column is signed), so the daemon crashed on each restart.
    func testSeedsOutsideTheProvenanceRangeAreRefusedAtThePlan() throws {
        for method in ["recall", "dare_linear"] {
            assertRecallError(["seed=9223372036854775808", "from 0 to 9223372036854775807"]) {
                _ = try MergePlan(method: method, options: ["seed": "9223372036854775808"])
            }
            assertRecallError(["seed=-1"]) { _ = try MergePlan(method: method, options: ["seed": "-1"]) }
            XCTAssertNoThrow(try MergePlan(method: method, options: ["seed": "9223372036854775807"]), method)
        }
    }
}
