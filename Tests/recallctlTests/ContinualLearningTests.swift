import Foundation
import RecallCore
import XCTest

/// The registry's promise on the tiny trained fixture (Fixtures/cl-tiny, made by
/// tools/gen_cl_fixture.py with transformers as the oracle): three task experts registered one
/// after another, RECALL keeps every task's accuracy above a stated threshold, measured by our
/// own eval; the eval agrees with transformers; the merge gate stops a regression.
final class ContinualLearningTests: XCTestCase {
    static let root = CLI.fixtures.appendingPathComponent("cl-tiny")
    static let tasks = ["colour", "count", "opposite"]
    /// Stated in the spirit: after the three registers each task keeps >= 75% (the experts
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
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--opt", "clusters=8"])
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
    }

    func testGateKeepsHeadWhenAWatchedTaskRegresses() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", Self.root.appendingPathComponent("base").path, "--opt", "clusters=8", "--gate", "5"])
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
}
