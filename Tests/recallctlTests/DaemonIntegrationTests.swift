import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallStore

/// The product end to end: the real daemon on a temporary home and socket, driven by recallctl.
final class DaemonIntegrationTests: XCTestCase {
    func testInitThreeRegistersHistoryRollbackExport() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=4", "--opt", "lambda=1.5"])
        for (i, task) in ["alpha", "beta", "gamma"].enumerated() {
            let r = try daemon.ok(["register", try models.expert(task, seed: UInt64(i + 1)).path, "--task", task,
                                   "--samples", try models.samples(task).path])
            XCTAssertTrue(r.stdout.contains("version \(i + 2)"), r.stdout)
        }
        let history = try daemon.json(["history"]).arrayValue ?? []
        XCTAssertEqual(history.map { $0["version"]?.intValue }, [1, 2, 3, 4])
        XCTAssertEqual(history.map { $0["method"]?.stringValue }, ["base", "recall", "recall", "recall"])
        XCTAssertEqual(history.map { $0["task"]?.stringValue }, [nil, "alpha", "beta", "gamma"])
        XCTAssertEqual(history.map { $0["head"]?.boolValue }, [false, false, false, true])
        XCTAssertEqual(history.map { $0["parent"]?.intValue }, [nil, 1, 2, 3])

        // Every merged version has per-layer weights for each of its inputs, summing to 1 per layer.
        for v in 2...4 {
            let show = try daemon.json(["show", String(v)])
            let experts = (show["inputs"]?.arrayValue ?? []).filter { $0["role"]?.stringValue != "base" }
            XCTAssertEqual(experts.count, v - 1, "version \(v) merges every task so far")
            let layers = show["layer_weights"]?.arrayValue ?? []
            XCTAssertEqual(layers.count, 4 + 1, "embeddings + one per decoder layer of the 4-layer fixture")
            for layer in layers {
                let w = (layer["weights"]?.objectValue ?? []).compactMap { $0.1.doubleValue }
                XCTAssertEqual(w.count, v - 1)
                XCTAssertEqual(w.reduce(0, +), 1, accuracy: 1e-9)
            }
            XCTAssertEqual(show["typical_samples"]?.arrayValue?.count, 4)
        }
        let table = try daemon.ok(["show", "4"]).stdout
        XCTAssertTrue(table.contains("per-layer weights"), table)

        // Rollback moves head; history keeps everything.
        try daemon.ok(["rollback", "2"])
        let afterRollback = try daemon.json(["history"]).arrayValue ?? []
        XCTAssertEqual(afterRollback.map { $0["head"]?.boolValue }, [false, true, false, false])
        try daemon.ok(["tag", "best", "3"])
        XCTAssertEqual(try daemon.json(["show", "best"])["version"]?.intValue, 3)

        // Export (daemon-written and streamed) equals the stored version bit for bit.
        let out = models.root.appendingPathComponent("export-3")
        let streamed = models.root.appendingPathComponent("export-3-stream")
        try daemon.ok(["export", "3", out.path])
        try daemon.ok(["export", "best", streamed.path, "--stream"])
        XCTAssertNotEqual(try daemon.ctl(["export", "3", out.path]).status, 0, "a non-empty directory is refused")
        XCTAssertEqual(daemon.stop(), 0, "SIGTERM exits cleanly")

        let store = try RegistryStore(home: daemon.home)
        let (_, stored) = try store.checkpoint(version: "3")
        for dir in [out, streamed] {
            let exported = try Checkpoint.open(dir)
            XCTAssertEqual(exported.weights.infos.map(\.name), stored.infos.map(\.name))
            for info in stored.infos {
                let a = try stored.tensor(named: info.name), b = try exported.weights.tensor(named: info.name)
                XCTAssertEqual(a.info, b.info)
                XCTAssertTrue(a.bytes.elementsEqual(b.bytes), "\(info.name) differs in \(dir.lastPathComponent)")
            }
            XCTAssertNotNil(try? exported.modelConfig(), "config.json comes along")
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path))
        }
        XCTAssertTrue(try store.blobs.verify().isClean)
    }
}
