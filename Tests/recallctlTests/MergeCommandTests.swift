import Foundation
import XCTest
@testable import RecallTensor

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

final class MergekitYAMLTests: XCTestCase {
    /// The YAML mergekit ran for each fixture case, fed to `recallctl merge --config`: same result.
    func testMergekitYAMLGivesMergekitsResult() throws {
        let root = CLI.fixtures.appendingPathComponent("merge")
        let spec = try JSONValue.parse(Data(contentsOf: root.appendingPathComponent("cases.json")))
        let dir = try makeTemp(self)
        var checked = 0
        for c in spec["cases"]?.arrayValue ?? [] {
            let name = c["name"]!.stringValue!
            guard !name.hasSuffix("bf16") else { continue }  // bf16 cases compare within an ulp in MergekitFixtureTests
            // Write the YAML next to the models so its relative paths resolve.
            let yml = root.appendingPathComponent(".\(name)-\(UUID().uuidString).yml")
            try Data(c["yaml"]!.serialized().utf8).write(to: yml)  // JSON is valid YAML
            defer { try? FileManager.default.removeItem(at: yml) }
            let out = dir.appendingPathComponent(name)
            let r = try CLI.run(["merge", "--config", yml.path, "--out", out.path])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            let ours = try Checkpoint.open(out).weights
            let theirs = try SafeTensorsFile(url: root.appendingPathComponent(c["output"]!.stringValue!))
            for info in theirs.infos {
                let a = try ours.tensor(named: info.name).toFloat32(), b = try theirs.tensor(named: info.name).toFloat32()
                for k in a.indices { XCTAssertEqual(a[k], b[k], accuracy: 1e-6 * max(1, abs(b[k])), "\(name) \(info.name)") }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 9)
    }

    func testBadYAMLIsNamed() throws {
        let dir = try makeTemp(self)
        let yml = dir.appendingPathComponent("m.yml")
        for (text, fragment) in [("slices:\n  - sources: []\nmerge_method: linear\n", "slices"),
                                 ("models: [{model: a}]\n", "merge_method"),
                                 ("merge_method: linear\nmodels: [{model: a, parameters: {weight: [{nofilter: 1}]}}]\n", "needs a value"),
                                 (": : :\n- [", "not valid YAML"),
                                 // Used to trap in UInt64(-1): now a named error.
                                 ("merge_method: linear\nrandom_seed: -1\nmodels: [{model: a}]\n", "random_seed")] {
            try Data(text.utf8).write(to: yml)
            let r = try CLI.run(["merge", "--config", yml.path, "--out", dir.appendingPathComponent("o").path])
            XCTAssertEqual(r.status, 1, text)
            XCTAssertTrue(r.stderr.contains(yml.path), r.stderr)
            XCTAssertTrue(r.stderr.contains(fragment), "\(fragment): \(r.stderr)")
        }
        XCTAssertEqual(try CLI.run(["merge", "--config", yml.path, "--method", "linear", "--out", dir.path]).status, 2)
    }
}
