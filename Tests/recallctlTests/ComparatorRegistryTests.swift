import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallMerge
@testable import RecallStore

/// The comparator methods (iso_c, iso_cts, tsv_m, opcm) through the daemon and the offline
/// `recallctl merge` on the tiny trained fixture (Fixtures/cl-tiny, F32): the registry's head after
/// three registers is the offline merge of the same experts, and OPCM keeps its state in the
/// version's options. (The formulas themselves: RecallMergeTests' ComparatorMergeTests.)
final class ComparatorRegistryTests: XCTestCase {
    static let root = CLI.fixtures.appendingPathComponent("cl-tiny")
    static let tasks = ["colour", "count", "opposite"]

    func samples(_ task: String) -> URL { Self.root.appendingPathComponent("tasks/\(task)/samples.jsonl") }
    func expert(_ task: String) -> String { Self.root.appendingPathComponent("expert-\(task)").path }

    /// Head after registering the experts in order with `method`, and the offline merge.
    func headAndOffline(_ method: String, options: [String], params: [String]) throws -> (head: TensorSource, offline: Checkpoint, show: JSONValue, stdout: String) {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", method] + options.flatMap { ["--opt", $0] })
        for t in Self.tasks {
            try daemon.ok(["register", expert(t), "--task", t, "--samples", samples(t).path])
        }
        let show = try daemon.json(["show", "head"])
        XCTAssertEqual(try daemon.ctl(["verify"]).status, 0)
        XCTAssertEqual(daemon.stop(), 0)
        let (_, head) = try RegistryStore(home: daemon.home).checkpoint(version: "head")
        let out = try makeTemp(self).appendingPathComponent("merged")
        let r = try CLI.run(["merge", "--method", method, "--base", Self.root.appendingPathComponent("base").path,
                             "--models", Self.tasks.map(expert).joined(separator: ","), "--out", out.path, "--json"] + params.flatMap { ["--param", $0] })
        XCTAssertEqual(r.status, 0, r.stderr)
        return (head, try Checkpoint.open(out), show, r.stdout)
    }

    func assertClose(_ head: TensorSource, _ offline: Checkpoint, relative: Double, _ method: String) throws {
        let base = try Checkpoint.open(Self.root.appendingPathComponent("base"))
        var moved = 0
        for info in head.infos {
            let a = try head.tensor(named: info.name).toFloat32(), b = try offline.weights.tensor(named: info.name).toFloat32()
            let w0 = try base.weights.tensor(named: info.name).toFloat32()
            let scale = zip(b, w0).map { Double(abs($0 - $1)) }.max() ?? 0
            if scale > 0 { moved += 1 }
            let worst = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, relative * scale + 1e-7, "\(method) \(info.name)")
        }
        XCTAssertGreaterThan(moved, head.infos.count / 2, "\(method) changed the model")
    }

    func testSubspaceMethodsInTheRegistryEqualTheOfflineMerge() throws {
        for (method, options) in [("iso_c", ["lambda=1"]), ("iso_cts", ["common_fraction=0.5"]), ("tsv_m", [String]())] {
            let (head, offline, show, _) = try headAndOffline(method, options: options, params: options)
            XCTAssertEqual(show["method"]?.stringValue, method, show.serialized())
            // Same engine, same experts (summed in another order): equal up to rounding.
            try assertClose(head, offline, relative: 1e-4, method)
        }
    }

    func testOPCMKeepsItsStateInTheVersionAndResumesFromTheHead() throws {
        let (head, offline, show, stdout) = try headAndOffline("opcm", options: ["alpha=0.6"], params: ["alpha=0.6"])
        let state = try XCTUnwrap(OPCMMerge.State(json: show["details"]?["opcm"]), show.serialized())
        XCTAssertEqual(state.norms.count, 3)
        let oneShot = try XCTUnwrap(OPCMMerge.State(json: try JSONValue.parse(Data(stdout.utf8), rejectDuplicateKeys: false)["opcm"]), stdout)
        // Three registers, each resuming from the stored head, land where one pass over the three does.
        XCTAssertEqual(state.lambda, oneShot.lambda, accuracy: 1e-5 * oneShot.lambda)
        for (a, b) in zip(state.norms, oneShot.norms) { XCTAssertEqual(a, b, accuracy: 1e-6 * b) }
        XCTAssertGreaterThan(state.lambda, 1, "three partly orthogonal task vectors sum to more than their mean norm")
        try assertClose(head, offline, relative: 1e-4, "opcm")
    }

    /// `recallctl merge` takes PEFT adapter directories of --base as models and merges them from
    /// their factors: the written model is the library's factor-path merge.
    func testOfflineMergeOfAdaptersUsesTheirFactors() throws {
        let base = CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded")
        let adapters = ["plain", "rslora"].map { CLI.fixtures.appendingPathComponent("lora/\($0)").path }
        let checkpoint = try Checkpoint.open(base)
        for method in ["tsv_m", "opcm"] {
            let out = try makeTemp(self).appendingPathComponent(method)
            let r = try CLI.run(["merge", "--method", method, "--base", base.path, "--models", adapters.joined(separator: ","), "--out", out.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let appliers = try adapters.map { try LoRAApplier(base: checkpoint.weights, adapterDirectory: URL(fileURLWithPath: $0)) }
            let library: TensorSource = method == "opcm"
                ? try OPCMMerge(base: checkpoint.weights, tasks: appliers.map { OPCMMerge.Task(name: "a", source: $0) })
                : try MergedCheckpoint(MergeConfiguration(method: TSVMerge(), base: MergeModel(name: "base", source: checkpoint.weights),
                                                          models: appliers.map { MergeModel(name: "a", source: $0) }))
            let written = try Checkpoint.open(out)
            for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight", "model.norm.weight"] {
                XCTAssertEqual(try written.weights.tensor(named: name).toFloat32(), try library.tensor(named: name).toFloat32(), "\(method) \(name)")
            }
            XCTAssertNotEqual(try written.weights.tensor(named: "model.layers.0.self_attn.q_proj.weight").toFloat32(),
                              try checkpoint.weights.tensor(named: "model.layers.0.self_attn.q_proj.weight").toFloat32())
        }
    }

    func testBadComparatorOptionsAreRefusedAtInit() throws {
        for (method, option, fragment) in [("iso_c", "lambda=-2", "lambda=-2"), ("iso_cts", "common_fraction=0", "common_fraction=0"),
                                           ("tsv_m", "density=0.5", "'density'"), ("opcm", "alpha=1.5", "alpha=1.5")] {
            let daemon = try DaemonHarness(self)
            try daemon.start()
            let r = try daemon.ctl(["init", Self.root.appendingPathComponent("base").path, "--method", method, "--opt", option])
            XCTAssertNotEqual(r.status, 0, method)
            // One line naming the option (init's usage hint follows it, as for every init error).
            XCTAssertTrue(r.stderr.split(separator: "\n").first?.contains(fragment) == true, "\(method): \(r.stderr)")
            XCTAssertEqual(daemon.stop(), 0)
        }
        let offline = try CLI.run(["merge", "--method", "tsv_m", "--base", Self.root.appendingPathComponent("base").path,
                                   "--models", expert("colour"), "--param", "rank=4", "--out", try makeTemp(self).appendingPathComponent("o").path])
        XCTAssertEqual(offline.status, 1)
        XCTAssertTrue(offline.stderr.contains("'rank' is not a tsv_m option"), offline.stderr)
    }
}
