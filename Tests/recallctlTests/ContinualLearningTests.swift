import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallMerge
@testable import RecallStore

/// The registry's promise on the tiny trained fixture (Fixtures/cl-tiny, made by
/// tools/gen_cl_fixture.py with transformers as the oracle): three task experts registered one
/// after another, RECALL keeps every task's accuracy above a stated threshold, measured by our
/// own eval; the eval agrees with transformers; the merge gate stops a regression.
final class ContinualLearningTests: XCTestCase {
    static let root = CLI.fixtures.appendingPathComponent("cl-tiny")
    static let tasks = ["colour", "count", "opposite"]
    /// Stated in the issue's spirit: after the three registers each task keeps >= 75% (the experts
    /// reach >= 90%, the base is near chance; see Fixtures/cl-tiny/README.md).
    static let threshold = 0.75

    func expected() throws -> JSONValue {
        try JSONValue.parse(try Data(contentsOf: Self.root.appendingPathComponent("expected.json")), rejectDuplicateKeys: false)
    }

    func eval(_ task: String) -> URL { Self.root.appendingPathComponent("tasks/\(task)/eval.jsonl") }
    func samples(_ task: String) -> URL { Self.root.appendingPathComponent("tasks/\(task)/samples.jsonl") }

    /// Our eval of the base and every expert equals transformers' (one item of slack per task
    /// for float near-ties between our f32 and its float64 log-softmax).
    func testOurEvalMatchesTransformers() throws {
        let oracle = try expected()["accuracy"]
        for model in ["base"] + Self.tasks.map { "expert-\($0)" } {
            let r = try CLI.run(["accuracy", Self.root.appendingPathComponent(model).path, "--json"] + Self.tasks.flatMap { ["--eval", eval($0).path] })
            XCTAssertEqual(r.status, 0, r.stderr)
            let rows = try JSONValue.parse(Data(r.stdout.utf8), rejectDuplicateKeys: false).arrayValue ?? []
            XCTAssertEqual(rows.count, 3)
            for row in rows {
                let task = row["task"]?.stringValue ?? ""
                let want = (model == "base" ? oracle?["base"] : oracle?["experts"]?[model])?[task]?.doubleValue
                let got = row["accuracy"]?.doubleValue ?? -1
                XCTAssertNotNil(want, "\(model)/\(task) in expected.json")
                XCTAssertEqual(got, want ?? -2, accuracy: 1.0 / 40 + 1e-9, "\(model) on \(task)")
            }
        }
    }

    func testRecallKeepsEveryTaskAfterThreeRegisters() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", "recall", "--opt", "clusters=8"])
        for t in Self.tasks {
            try daemon.ok(["register", Self.root.appendingPathComponent("expert-\(t)").path, "--task", t,
                           "--samples", samples(t).path, "--eval", eval(t).path])
        }
        try daemon.ok(["eval", "1"])
        let matrix = try daemon.json(["history", "--eval"])
        let rows = matrix["versions"]?.arrayValue ?? []
        XCTAssertEqual(rows.compactMap { $0["version"]?.intValue }, [1, 2, 3, 4])
        let final = try XCTUnwrap(rows.last?["accuracy"])
        let base = try XCTUnwrap(rows.first?["accuracy"])
        for t in Self.tasks {
            let acc = try XCTUnwrap(final[t]?.doubleValue, t)
            XCTAssertGreaterThanOrEqual(acc, Self.threshold, "RECALL forgot \(t): \(matrix.serialized())")
            XCTAssertGreaterThan(acc, (base[t]?.doubleValue ?? 1) + 0.2, "\(t) learned well above the base")
        }
        // Each version evaluated every task registered so far, and nothing later.
        XCTAssertEqual(rows[1]["accuracy"]?.objectValue?.map(\.0), ["colour"])
        XCTAssertEqual(rows[2]["accuracy"]?.objectValue?.map(\.0).sorted(), ["colour", "count"])
        let table = try daemon.ok(["history", "--eval"]).stdout
        XCTAssertTrue(table.contains("colour") && table.contains("MEAN"), table)
        try checkReport(daemon, matrix: matrix)
    }

    /// `recallctl report`: one self-contained page whose numbers are the API's.
    func checkReport(_ daemon: DaemonHarness, matrix: JSONValue) throws {
        let dir = try makeTemp(self)
        let page = dir.appendingPathComponent("report.html"), svgs = dir.appendingPathComponent("svg")
        try daemon.ok(["report", "head", "--out", page.path, "--svg", svgs.path])
        let html = try String(contentsOf: page, encoding: .utf8)
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("href=\"http"), "self-contained: no script, no external asset")
        func values(_ chart: String) -> [(row: String, column: String, value: Double)] {
            guard let start = html.range(of: "id=\"\(chart)\"") else { return [] }
            let svg = html[start.lowerBound...].prefix { _ in true }
            let end = svg.range(of: "</svg>")!.lowerBound
            let regex = try! NSRegularExpression(pattern: #"data-row="([^"]*)" data-column="([^"]*)" data-value="([^"]*)""#)
            let text = String(svg[..<end])
            return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
                (String(text[Range(m.range(at: 1), in: text)!]), String(text[Range(m.range(at: 2), in: text)!]), Double(text[Range(m.range(at: 3), in: text)!])!)
            }
        }
        let head = try daemon.json(["show", "head"])
        let layers = head["layer_weights"]?.arrayValue ?? []
        let inputs = (head["inputs"]?.arrayValue ?? []).filter { $0["role"]?.stringValue != "base" }
        let cells = values("layer-weights")
        XCTAssertEqual(cells.count, layers.count * inputs.count, "one cell per (layer, input model)")
        for (l, row) in layers.enumerated() {
            for (i, input) in inputs.enumerated() {
                let want = try XCTUnwrap(row["weights"]?[String(input["model_id"]?.intValue ?? 0)]?.doubleValue)
                XCTAssertEqual(cells[l * inputs.count + i].value, want, accuracy: 5e-4)
            }
        }
        let accuracy = values("accuracy-matrix")
        let rows = matrix["versions"]?.arrayValue ?? []
        XCTAssertEqual(accuracy.count, rows.reduce(0) { $0 + ($1["accuracy"]?.objectValue?.count ?? 0) })
        for cell in accuracy {
            let version = rows.first { "v\($0["version"]?.intValue ?? 0)" == cell.row }
            XCTAssertEqual(cell.value, try XCTUnwrap(version?["accuracy"]?[cell.column]?.doubleValue), accuracy: 5e-4, "\(cell)")
        }
        XCTAssertEqual(html.components(separatedBy: "class=\"node\"").count - 1, 4, "a lineage node per version")
        XCTAssertTrue(html.contains("data-version=\"4\" data-head=\"true\""))
        let files = try FileManager.default.contentsOfDirectory(atPath: svgs.path).sorted()
        XCTAssertEqual(files, ["accuracy-matrix.svg", "accuracy-mean.svg", "layer-weights.svg", "lineage.svg", "similarity.svg"])
    }

    func testGateKeepsHeadWhenAWatchedTaskRegresses() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", "recall", "--opt", "clusters=8", "--gate", "5"])
        try daemon.ok(["register", Self.root.appendingPathComponent("expert-colour").path, "--task", "colour",
                       "--samples", samples("colour").path, "--eval", eval("colour").path])
        // A bad new model for the same task: the count expert registered as "colour" replaces the
        // colour expert, so colour's accuracy falls back to about the base's.
        let r = try daemon.ok(["register", Self.root.appendingPathComponent("expert-count").path, "--task", "colour",
                               "--samples", samples("colour").path])
        XCTAssertTrue(r.stdout.contains("gated"), r.stdout)
        let history = try daemon.json(["history"]).arrayValue ?? []
        XCTAssertEqual(history.count, 3, "the gated version is still recorded")
        XCTAssertEqual(history.last?["gated"]?.boolValue, true)
        XCTAssertTrue(history.last?["gate_reason"]?.stringValue?.contains("colour") == true, history.last?.serialized() ?? "")
        XCTAssertEqual(history.map { $0["head"]?.boolValue }, [false, true, false], "head stays on version 2")
        XCTAssertTrue(try daemon.ok(["history"]).stdout.contains("gated:"))
    }

    // MARK: RegMean

    /// RegMean through the daemon keeps every task after three registers (the same stated
    /// threshold as RECALL's), in the experts scenario and in the sequential one, where the head's
    /// Gram is the running sum kept in the store.
    func testRegMeanKeepsEveryTaskInBothScenarios() throws {
        for scenario in ["experts", "sequential"] {
            let daemon = try DaemonHarness(self)
            try daemon.start()
            try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", "regmean", "--scenario", scenario])
            for t in Self.tasks {
                // The fixture's experts were all fine-tuned from the base.
                try daemon.ok(["register", Self.root.appendingPathComponent("expert-\(t)").path, "--task", t,
                               "--samples", samples(t).path, "--eval", eval(t).path, "--trained-from", "base"])
            }
            let rows = try daemon.json(["history", "--eval"])["versions"]?.arrayValue ?? []
            let final = try XCTUnwrap(rows.last?["accuracy"], scenario)
            for t in Self.tasks {
                XCTAssertGreaterThanOrEqual(try XCTUnwrap(final[t]?.doubleValue), Self.threshold, "\(scenario): RegMean forgot \(t): \(final.serialized())")
            }
            let head = try daemon.json(["show", "head"])
            XCTAssertEqual(head["details"]?["statistics"]?.stringValue, StatisticsRecipe().key, head.serialized())
            if scenario == "experts" {
                // A model fine-tuned from a merged version would count every other expert twice.
                let refused = try daemon.ctl(["register", Self.root.appendingPathComponent("expert-colour").path, "--task", "again",
                                              "--samples", samples("colour").path, "--trained-from", "2"])
                XCTAssertEqual(refused.status, 1)
                XCTAssertTrue(refused.stderr.contains("experts scenario"), refused.stderr)
            }
            XCTAssertEqual(try daemon.ctl(["verify"]).status, 0)
            XCTAssertEqual(daemon.stop(), 0)

            // Statistics are cached per task model (and, in the sequential loop, per merged head),
            // within 5% of the model's bytes per task.
            let store = try RegistryStore(home: daemon.home)
            let newModels = try (2...4).map { v in try XCTUnwrap(store.provenance.detail(of: v).inputs.first { $0.role == .new }?.modelID) }
            for id in newModels {
                let model = try XCTUnwrap(store.provenance.model(id: id))
                let stats = try XCTUnwrap(store.blobs.statistics(model: model.contentHash, recipe: StatisticsRecipe().key, layers: 4), "model \(id)")
                let bytes = try store.checkpoint(of: model).infos.reduce(0) { $0 + $1.byteCount }
                XCTAssertLessThan(Double(stats.byteCount), 0.6 * Double(bytes), "the tiny model is far narrower than an LLM; see ARCHITECTURE.md for SmolLM2 and 7B")
            }
            if scenario == "sequential" {
                let (_, headModel) = try store.checkpoint(version: "head")
                XCTAssertNotNil(try store.blobs.statistics(model: headModel.hash, recipe: StatisticsRecipe().runningSumKey, layers: 4), "the head keeps its running sum")
            }
        }
    }

    /// `recallctl merge --method regmean` (no daemon) merges the three experts in one shot to
    /// the same bytes the daemon's three registers end with, and keeps every task.
    func testOfflineRegMeanEqualsTheRegistrysHead() throws {
        let dir = try makeTemp(self)
        let out = dir.appendingPathComponent("merged")
        let r = try CLI.run(["merge", "--method", "regmean", "--base", Self.root.appendingPathComponent("base").path,
                             "--models", Self.tasks.map { Self.root.appendingPathComponent("expert-\($0)").path }.joined(separator: ","),
                             "--samples", Self.tasks.map { samples($0).path }.joined(separator: ","), "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let acc = try CLI.run(["accuracy", out.path, "--json"] + Self.tasks.flatMap { ["--eval", eval($0).path] })
        for row in try JSONValue.parse(Data(acc.stdout.utf8), rejectDuplicateKeys: false).arrayValue ?? [] {
            XCTAssertGreaterThanOrEqual(row["accuracy"]?.doubleValue ?? 0, Self.threshold, row.serialized())
        }
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path])
        for t in Self.tasks {
            try daemon.ok(["register", Self.root.appendingPathComponent("expert-\(t)").path, "--task", t, "--samples", samples(t).path])
        }
        XCTAssertEqual(daemon.stop(), 0)
        let (_, head) = try RegistryStore(home: daemon.home).checkpoint(version: "head")
        let offline = try Checkpoint.open(out)
        for info in head.infos {
            XCTAssertEqual(try head.tensor(named: info.name).copyBytes(), try offline.weights.tensor(named: info.name).copyBytes(), info.name)
        }
        let bad = try CLI.run(["merge", "--method", "regmean", "--base", Self.root.appendingPathComponent("base").path,
                               "--models", Self.root.appendingPathComponent("expert-colour").path, "--samples", "a.jsonl,b.jsonl", "--out", out.path])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("one per model"), bad.stderr)
    }

    /// An option that does not belong to the method is refused at init, naming the key.
    func testRegMeanOptionsAreChecked() throws {
        XCTAssertThrowsError(try MergePlan(method: "regmean", options: ["tau": "0.1"])) { e in
            XCTAssertTrue("\(e)".contains("tau") && "\(e)".contains("regmean"), "\(e)")
        }
        XCTAssertThrowsError(try MergePlan(method: "recall", options: ["ridge": "0.1"])) { e in
            XCTAssertTrue("\(e)".contains("fusion=regmean"), "\(e)")
        }
        XCTAssertThrowsError(try MergePlan(method: "regmean", options: ["alpha": "1.5"]))
        let plan = try MergePlan(method: "recall", options: ["fusion": "regmean", "rank": "8"])
        XCTAssertEqual(plan.statistics?.rank, 8)
    }

    // MARK: Adapters trained from the head

    /// In the sequential loop a PEFT adapter is a delta on the version it was trained from: the
    /// registry applies it there (head by default), so the stored task model equals what PEFT's
    /// `merge_and_unload()` makes of that model (Fixtures/lora/on-expert: an adapter on the colour
    /// expert, which a first linear register makes the head exactly).
    func testAdapterIsAppliedToTheVersionItWasTrainedFrom() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", "linear", "--scenario", "sequential"])
        try daemon.ok(["register", Self.root.appendingPathComponent("expert-colour").path, "--task", "colour",
                       "--samples", samples("colour").path])
        let adapter = CLI.fixtures.appendingPathComponent("lora/on-expert")
        // A version that does not exist: refused with the option named, nothing queued.
        let bad = try daemon.ctl(["register", adapter.path, "--task", "count", "--samples", samples("count").path, "--trained-from", "9"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("--trained-from 9"), bad.stderr)
        XCTAssertEqual(try daemon.json(["jobs"]).arrayValue?.count, 1, "only the first register's job")
        try daemon.ok(["register", adapter.path, "--task", "count", "--samples", samples("count").path])
        let show = try daemon.json(["show", "3"])
        XCTAssertEqual(show["details"]?["trained_from"]?.intValue, 2, show.serialized())
        XCTAssertEqual(daemon.stop(), 0)

        let store = try RegistryStore(home: daemon.home)
        let newID = try XCTUnwrap(store.provenance.detail(of: 3).inputs.first { $0.role == .new }?.modelID)
        let taskModel = try store.checkpoint(of: try XCTUnwrap(store.provenance.model(id: newID)))
        let headModelID = try XCTUnwrap(store.provenance.version(2)?.modelID)
        XCTAssertEqual(try store.provenance.model(id: newID)?.parentID, headModelID, "provenance names the model the adapter was applied to")
        let expected = try SafeTensorsFile(url: adapter.appendingPathComponent("expected.safetensors"))
        let expert = try Checkpoint.open(Self.root.appendingPathComponent("expert-colour"))
        XCTAssertFalse(expected.infos.isEmpty)
        for info in taskModel.infos {
            let got = try taskModel.tensor(named: info.name).toFloat32()
            let want = try (expected.infos.contains { $0.name == info.name } ? expected.tensor(named: info.name)
                                                                                : expert.weights.tensor(named: info.name)).toFloat32()
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(info.name): the adapter was applied to the wrong model (max diff \(worst))")
        }
    }

    /// Sequential task vectors are taken against the parent, not the base: with task arithmetic
    /// at lambda 1 and weight 1, head H plus an adapter trained from it (N) must merge to
    /// H + (N - H) = N. Anchored at the base it would be B + (H - B) + (N - B) = N + H - B: every
    /// earlier step counted again, the compounding the sequential benchmark suffered from.
    func testSequentialTaskVectorsAreTakenAgainstTheParent() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--method", "task_arithmetic",
                       "--scenario", "sequential", "--opt", "lambda=1"])
        try daemon.ok(["register", Self.root.appendingPathComponent("expert-colour").path, "--task", "colour",
                       "--samples", samples("colour").path])
        let adapter = CLI.fixtures.appendingPathComponent("lora/on-expert")
        let job = try daemon.json(["register", adapter.path, "--task", "count", "--samples", samples("count").path])
        // Work proportional to what changed: the adapter touches the 28 block linears of the 38
        // tensors; the other 10 are the head's stored tensors, taken over without being read,
        // hashed or merged, in the task model and in the merge alike.
        XCTAssertEqual(job["result"]?["reused_tensors"]?["task_model"]?.intValue, 10, job.serialized())
        XCTAssertEqual(job["result"]?["reused_tensors"]?["merged_model"]?.intValue, 10, job.serialized())
        XCTAssertEqual(daemon.stop(), 0)
        let store = try RegistryStore(home: daemon.home)
        let (_, merged) = try store.checkpoint(version: "3")
        let expected = try SafeTensorsFile(url: adapter.appendingPathComponent("expected.safetensors"))
        for info in expected.infos {
            let got = try merged.tensor(named: info.name).toFloat32(), want = try expected.tensor(named: info.name).toFloat32()
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(info.name): merged head + (new - head) differs from the new model by \(worst)")
        }
    }
}

