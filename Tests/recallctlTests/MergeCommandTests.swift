import Foundation
import RecallCore
import XCTest

final class MergeCommandTests: XCTestCase {
    let models = CLI.fixtures.appendingPathComponent("merge/models")

    func testTiesFromTheCommandLineMatchesMergekit() throws {
        let dir = try makeTemp(self)
        let out = dir.appendingPathComponent("merged")
        let r = try CLI.run(["merge", "--method", "ties", "--base", models.appendingPathComponent("base").path,
                             "--models", ["task_a", "task_b", "task_c"].map { models.appendingPathComponent($0).path }.joined(separator: ","),
                             "--weight", "1,0.8,0.6", "--density", "0.5,0.3,0.7", "--out", out.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ours = try Checkpoint.open(out)
        XCTAssertNotNil(ours.configJSON, "config copied from the base")
        let theirs = try SafeTensorsFile(url: CLI.fixtures.appendingPathComponent("merge/ties.safetensors"))
        for info in theirs.infos {
            let a = try ours.weights.tensor(named: info.name).toFloat32(), b = try theirs.tensor(named: info.name).toFloat32()
            for k in a.indices { XCTAssertEqual(a[k], b[k], accuracy: 1e-6 * max(1, abs(b[k]))) }
        }
    }

    func testBadMergeInputsFailCleanly() throws {
        let dir = try makeTemp(self)
        let base = models.appendingPathComponent("base").path
        // A checkpoint of another architecture: the first mismatching tensor is named.
        let tiny = CLI.fixtures.appendingPathComponent("safetensors/dtypes.safetensors").path
        var r = try CLI.run(["merge", "--method", "task_arithmetic", "--base", base, "--models", tiny, "--weight", "1", "--out", dir.appendingPathComponent("x").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("dtypes.safetensors"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x/model.safetensors").path))
        r = try CLI.run(["merge", "--method", "frankenmerge", "--models", base, "--out", dir.path])
        XCTAssertEqual(r.status, 2)
        r = try CLI.run(["merge", "--method", "linear", "--models", "\(base),\(base)", "--weight", "1,2,3", "--out", dir.path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("3 values for 2 models"), r.stderr)
        r = try CLI.run(["merge", "--method", "slerp", "--models", base, "--param", "t=0.5", "--out", dir.appendingPathComponent("y").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("needs a base"), r.stderr)
    }
}
