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

    /// `queued`: the failure comes from the job, after the progress lines a register prints on a
    /// non-terminal stderr (one per phase); the error itself must still be one line.
    func expectFailure(_ daemon: DaemonHarness, _ args: [String], mentions: [String], queued: Bool = false,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try daemon.ctl(args)
        XCTAssertEqual(r.status, 1, "\(args) should fail: \(r.stdout) \(r.stderr)", file: file, line: line)
        var message = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if queued {
            let lines = message.split(separator: "\n")
            XCTAssertTrue(lines.dropLast().allSatisfy { $0.hasPrefix("[") && $0.contains("%") }, "progress, then the error: \(message)", file: file, line: line)
            XCTAssertTrue(lines.last?.contains("job ") == true && lines.last?.contains(" failed: ") == true, message, file: file, line: line)
            message = lines.last.map(String.init) ?? ""
        }
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

    /// NaN/Inf is found where the bytes are read once: a PEFT adapter's own (small) tensors in the
    /// register request, everything else by the worker's put as it encodes each new chunk. Either
    /// way the register fails with one line naming the file and tensor, and the store (models,
    /// versions, chunks, bytes) is as it was; a failure in the worker is also listed as a failed job.
    func testNonFiniteWeightsAreRefusedAndLeaveTheStoreUnchanged() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        let root = try makeTemp(self)
        let base = CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded")
        try daemon.ok(["init", base.path, "--method", "task_arithmetic"])
        let samples = root.appendingPathComponent("s.jsonl")
        try Data("{\"text\": \"hello\"}\n".utf8).write(to: samples)
        try daemon.ok(["register", CLI.fixtures.appendingPathComponent("lora/plain").path, "--task", "plain", "--samples", samples.path])
        func storeState() throws -> String {
            let status = try daemon.json(["status"])
            return [try daemon.json(["history"]).serialized(), status["models"]!.serialized(), status["store"]!.serialized()].joined(separator: "|")
        }
        func failedJobs() throws -> Int? { try daemon.json(["status"])["jobs"]?["failed"]?.intValue }
        let before = try storeState()
        XCTAssertEqual(try failedJobs(), 0)

        // A full model with one NaN in its third tensor: the worker's put finds it.
        let weights = try Checkpoint.open(base).weights
        let bad = weights.infos[2].name
        let tensors = try weights.infos.map { info -> TensorView in
            var values = try weights.tensor(named: info.name).toFloat32()
            values = values.map { $0 + 0.01 }   // not the base's bytes: every chunk is new
            if info.name == bad { values[3] = .nan }
            return TensorView(name: info.name, shape: info.shape, float32: values, as: info.dtype)
        }
        let nanFile = root.appendingPathComponent("nan.st")
        try SafeTensorsWriter().write(tensors, to: nanFile)
        try expectFailure(daemon, ["register", nanFile.path, "--task", "t", "--samples", samples.path],
                          mentions: ["nan.st", "tensor \"\(bad)\"", "NaN", "element 3"], queued: true)
        XCTAssertEqual(try storeState(), before, "a NaN found by the worker changed the store")
        XCTAssertEqual(try failedJobs(), 1, "the worker's refusal is listed as a failed job")

        // An adapter whose lora_B holds an infinity: refused by the request, no job.
        func adapter(_ name: String, _ edit: (String, inout [Float]) -> Void) throws -> URL {
            let plain = CLI.fixtures.appendingPathComponent("lora/plain")
            let dir = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: plain.appendingPathComponent("adapter_config.json"), to: dir.appendingPathComponent("adapter_config.json"))
            let file = try SafeTensorsFile(url: plain.appendingPathComponent("adapter_model.safetensors"))
            try SafeTensorsWriter().write(try file.infos.map { info in
                var values = try file.tensor(named: info.name).toFloat32()
                edit(info.name, &values)
                return TensorView(name: info.name, shape: info.shape, float32: values, as: info.dtype)
            }, to: dir.appendingPathComponent("adapter_model.safetensors"))
            return dir
        }
        let infinite = try adapter("infinite") { name, v in if name.hasSuffix("layers.1.self_attn.v_proj.lora_B.weight") { v[5] = .infinity } }
        try expectFailure(daemon, ["register", infinite.path, "--task", "t", "--samples", samples.path],
                          mentions: ["adapter_model.safetensors", "layers.1.self_attn.v_proj.lora_B.weight", "NaN or Inf", "element 5"])
        XCTAssertEqual(try failedJobs(), 1, "refused before a job was queued")

        // Finite factors whose product overflows F32: only the applied weights show it, so the worker's put finds it.
        let overflow = try adapter("overflow") { name, v in if name.contains("layers.0.self_attn.q_proj") { v = v.map { $0 < 0 ? -1e30 : 1e30 } } }
        try expectFailure(daemon, ["register", overflow.path, "--task", "t", "--samples", samples.path],
                          mentions: ["overflow", "tensor \"model.layers.0.self_attn.q_proj.weight\"", "NaN or Inf"], queued: true)
        XCTAssertEqual(try storeState(), before)
        XCTAssertEqual(try failedJobs(), 2)
        let verify = try daemon.json(["verify"])
        XCTAssertEqual(verify["clean"]?.boolValue, true)
        XCTAssertEqual(verify["unreferenced_chunks"]?.intValue, 0, "the failed puts gave their chunks back: \(verify.serialized())")
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
