import Foundation
import XCTest
@testable import RecallTensor

/// Every bad input against the real daemon: a one-line error naming the problem, a non-zero
/// exit, and the store exactly as it was (same versions, models, chunks, jobs).
final class DaemonBadInputTests: XCTestCase {
    func snapshot(_ daemon: DaemonHarness) throws -> String {
        let status = try daemon.json(["status"])
        let history = try daemon.json(["history"])
        return [history.serialized(), status["models"]!.serialized(), status["store"]!.serialized(), status["jobs"]!.serialized()]
            .joined(separator: "|")
    }

    func expectFailure(_ daemon: DaemonHarness, _ args: [String], mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try daemon.ctl(args)
        XCTAssertEqual(r.status, 1, "\(args) should fail: \(r.stdout) \(r.stderr)", file: file, line: line)
        let message = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(message.split(separator: "\n").count, 1, "one line: \(message)", file: file, line: line)
        for m in mentions { XCTAssertTrue(message.contains(m), "'\(message)' should mention '\(m)'", file: file, line: line) }
    }

    func testBadRegistersLeaveTheStoreUnchanged() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        let samples = try models.samples("alpha")
        let good = try models.expert("alpha", seed: 1)
        try expectFailure(daemon, ["register", good.path, "--task", "alpha", "--samples", samples.path],
                          mentions: ["no base yet", "init BASE_MODEL_DIR"])
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        try daemon.ok(["register", good.path, "--task", "alpha", "--samples", samples.path])
        let before = try snapshot(daemon)

        // Model files.
        let missing = models.root.appendingPathComponent("nope.st")
        try expectFailure(daemon, ["register", missing.path, "--task", "t", "--samples", samples.path], mentions: ["nope.st", "no such file"])
        let text = models.root.appendingPathComponent("notes.st")
        try Data("these are notes, not weights\n".utf8).write(to: text)
        try expectFailure(daemon, ["register", text.path, "--task", "t", "--samples", samples.path], mentions: ["notes.st"])
        let full = try Data(contentsOf: good)
        let truncated = models.root.appendingPathComponent("truncated.st")
        try full.prefix(full.count / 2).write(to: truncated)
        try expectFailure(daemon, ["register", truncated.path, "--task", "t", "--samples", samples.path], mentions: ["truncated.st"])
        var lying = full
        lying.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
        let lyingURL = models.root.appendingPathComponent("lying.st")
        try lying.write(to: lyingURL)
        try expectFailure(daemon, ["register", lyingURL.path, "--task", "t", "--samples", samples.path], mentions: ["lying.st"])
        let other = CLI.fixtures.appendingPathComponent("hf-tiny-llama/model.safetensors")
        try expectFailure(daemon, ["register", other.path, "--task", "t", "--samples", samples.path], mentions: ["model.safetensors", "tensor \""])

        // Non-finite weights: one NaN in one tensor.
        let nanDir = models.root.appendingPathComponent("nan")
        let expert = try makeExpert(nanDir, seed: 9)
        let tensors = try expert.weights.infos.enumerated().map { i, info -> TensorView in
            var values = try expert.weights.tensor(named: info.name).toFloat32()
            if i == 2 { values[3] = .nan }
            return TensorView(name: info.name, shape: info.shape, float32: values, as: .f32)
        }
        let nanFile = models.root.appendingPathComponent("nan.st")
        try SafeTensorsWriter().write(tensors, to: nanFile)
        try expectFailure(daemon, ["register", nanFile.path, "--task", "t", "--samples", samples.path],
                          mentions: ["nan.st", expert.weights.infos[2].name, "NaN"])

        // Samples files.
        let empty = models.root.appendingPathComponent("empty.jsonl")
        try Data().write(to: empty)
        try expectFailure(daemon, ["register", good.path, "--task", "t", "--samples", empty.path], mentions: ["empty.jsonl", "no samples"])
        let malformed = models.root.appendingPathComponent("bad.jsonl")
        try Data("{\"text\": \"fine\"}\n{\"text\": oops}\n".utf8).write(to: malformed)
        try expectFailure(daemon, ["register", good.path, "--task", "t", "--samples", malformed.path], mentions: ["bad.jsonl", "line 2"])

        // Unknown versions.
        try expectFailure(daemon, ["rollback", "99"], mentions: ["no version 99"])
        try expectFailure(daemon, ["show", "99"], mentions: ["no version 99"])
        let exportDir = models.root.appendingPathComponent("never")
        try expectFailure(daemon, ["export", "99", exportDir.path], mentions: ["no version 99"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: exportDir.path), "nothing written for an unknown version")
        try expectFailure(daemon, ["export", "nosuchtag", exportDir.path, "--stream"], mentions: ["nosuchtag"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: exportDir.path))

        // A second init.
        try expectFailure(daemon, ["init", models.base.path], mentions: ["already initialised"])

        XCTAssertEqual(try snapshot(daemon), before, "bad inputs changed the store")
        XCTAssertEqual(try daemon.json(["verify"])["clean"]?.boolValue, true)

        // A second daemon on the same home is refused while the first runs.
        let second = try DaemonHarness(self, home: daemon.home)
        XCTAssertThrowsError(try second.start())
        XCTAssertTrue(second.log.contains("already serves"), second.log)
        XCTAssertEqual(second.process?.terminationStatus, 1)
        XCTAssertEqual(try daemon.ok(["status"]).status, 0, "the first daemon is unaffected")
    }

    func testNoDaemonSaysHowToStartOne() throws {
        let r = try CLI.run(["history", "--socket", "/tmp/rr-none-\(UUID().uuidString.prefix(6)).sock"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("recallctl daemon start"), r.stderr)
    }

    func testUsageErrorsExitTwo() throws {
        XCTAssertEqual(try CLI.run(["register", "x.st"]).status, 2, "missing --task/--samples")
        XCTAssertEqual(try CLI.run(["init", "base", "--method", "nosuch"]).status, 2)
        XCTAssertEqual(try CLI.run(["init", "base", "--method", "recall", "--opt", "tau=-1"]).status, 2)
        XCTAssertEqual(try CLI.run(["init", "base", "--opt", "colour=red"]).status, 2)
    }
}
