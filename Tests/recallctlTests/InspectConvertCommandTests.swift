import Foundation
import XCTest
@testable import RecallTensor

final class InspectConvertCommandTests: XCTestCase {
    let tiny = CLI.fixtures.appendingPathComponent("hf-tiny-llama")
    let sharded = CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded")

    func json(_ s: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    /// Tensor name -> raw bytes, read back through RecallCore from any checkpoint form.
    func tensorBytes(_ url: URL) throws -> [String: [UInt8]] {
        let c = try Checkpoint.open(url)
        return try Dictionary(uniqueKeysWithValues: c.weights.infos.map { ($0.name, try c.weights.tensor(named: $0.name).copyBytes()) })
    }

    func testInspectDirectoryAsJSON() throws {
        let r = try CLI.run(["inspect", tiny.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try json(r.stdout)
        XCTAssertEqual(j["total_tensors"] as? Int, 21)
        XCTAssertEqual((j["config"] as? [String: Any])?["model_type"] as? String, "llama")
        XCTAssertEqual((j["config"] as? [String: Any])?["num_key_value_heads"] as? Int, 2)
        let tensors = try XCTUnwrap(j["tensors"] as? [[String: Any]])
        let embed = try XCTUnwrap(tensors.first { $0["name"] as? String == "model.embed_tokens.weight" })
        XCTAssertEqual(embed["shape"] as? [Int], [64, 16])
        XCTAssertEqual(embed["dtype"] as? String, "BF16")
        XCTAssertEqual(j["total_bytes"] as? Int, tensors.reduce(0) { $0 + ($1["bytes"] as! Int) })
    }

    func testInspectShardedIndexAndTable() throws {
        let r = try CLI.run(["inspect", sharded.appendingPathComponent("model.safetensors.index.json").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("(sharded"), r.stdout)
        XCTAssertTrue(r.stdout.contains("model.layers.1.mlp.up_proj.weight"), r.stdout)
        XCTAssertTrue(r.stdout.contains("llama: 2 layers"), r.stdout)
    }

    func testInspectBadInputsFailWithOneLine() throws {
        let dir = try makeTemp(self)
        let junk = dir.appendingPathComponent("taskC.st")
        try Data("definitely not a checkpoint".utf8).write(to: junk)
        for (path, fragment) in [(junk.path, "header length"), (dir.appendingPathComponent("missing").path, "no such file")] {
            let r = try CLI.run(["inspect", path])
            XCTAssertEqual(r.status, 1)
            XCTAssertEqual(r.stdout, "")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("error: \(path)"), r.stderr)
            XCTAssertTrue(r.stderr.contains(fragment), r.stderr)
        }
    }

    func testConvertRoundTripThroughF32IsExact() throws {
        let dir = try makeTemp(self)
        let f32 = dir.appendingPathComponent("f32"), back = dir.appendingPathComponent("back")
        XCTAssertEqual(try CLI.run(["convert", tiny.path, f32.path, "--dtype", "f32"]).status, 0)
        let r = try CLI.run(["convert", f32.path, back.path, "--dtype", "bf16", "--shard-size", "4KB", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try json(r.stdout)["sharded"] as? Bool, true)
        XCTAssertEqual(try tensorBytes(back), try tensorBytes(tiny))
        // The config travels along with its dtype updated, and the generation config is copied.
        let config = try Checkpoint.open(f32).configJSON
        XCTAssertEqual((config?["torch_dtype"] ?? config?["dtype"])?.stringValue, "float32")
        XCTAssertTrue(FileManager.default.fileExists(atPath: f32.appendingPathComponent("generation_config.json").path))
    }

    func testConvertShardedToSingleFile() throws {
        let dir = try makeTemp(self)
        let out = dir.appendingPathComponent("one.safetensors")
        let r = try CLI.run(["convert", sharded.path, out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try tensorBytes(out), try tensorBytes(sharded))
    }

    func testConvertUsageErrorsExitTwo() throws {
        let dir = try makeTemp(self)
        for args in [["convert", tiny.path, dir.appendingPathComponent("x").path, "--dtype", "int4"],
                     ["convert", tiny.path, dir.appendingPathComponent("x").path, "--shard-size", "lots"],
                     ["convert", tiny.path]] {
            XCTAssertEqual(try CLI.run(args).status, 2, "\(args)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testConvertRefusesNonEmptyOutputWithoutForce() throws {
        let dir = try makeTemp(self)
        let keep = dir.appendingPathComponent("keep.txt")
        try Data("mine".utf8).write(to: keep)
        let r = try CLI.run(["convert", tiny.path, dir.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--force"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["keep.txt"])
        XCTAssertEqual(try CLI.run(["convert", tiny.path, dir.path, "--force"]).status, 0)
        XCTAssertEqual(try tensorBytes(dir), try tensorBytes(tiny))
    }

    func testConvertOfABadFileLeavesNoOutput() throws {
        let dir = try makeTemp(self)
        let bad = dir.appendingPathComponent("bad.safetensors")
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes[0] = 200
        try Data(bytes + Array("{}".utf8)).write(to: bad)
        let out = dir.appendingPathComponent("out")
        let r = try CLI.run(["convert", bad.path, out.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(bad.path), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
