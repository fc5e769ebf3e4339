import Foundation
import XCTest
@testable import RecallTensor

/// `recallctl import` and `apply-lora` end to end on the committed fixtures.
final class ImportCommandTests: XCTestCase {
    func testImportGGUFThenInspect() throws {
        let dir = try makeTemp(self)
        let out = dir.appendingPathComponent("imported")
        let gguf = CLI.fixtures.appendingPathComponent("gguf/tiny-llama.gguf")
        var r = try CLI.run(["import", gguf.path, out.path, "--dtype", "f32"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c = try Checkpoint.open(out)
        XCTAssertEqual(try c.modelConfig().modelType, "llama")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("tokenizer.json").path))
        // The same tensors transformers read from the GGUF (golden file from the fixture generator).
        let expected = try SafeTensorsFile(url: CLI.fixtures.appendingPathComponent("gguf/tiny-llama.expected.safetensors"))
        var compared = 0
        for info in expected.infos where c.weights.info(named: info.name) != nil {
            XCTAssertEqual(try c.weights.tensor(named: info.name).toFloat32(), try expected.tensor(named: info.name).toFloat32(), info.name)
            compared += 1
        }
        XCTAssertGreaterThan(compared, 5)
        // Importing into the now non-empty directory is refused; a bad file leaves nothing.
        r = try CLI.run(["import", gguf.path, out.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--force"), r.stderr)
        let junk = dir.appendingPathComponent("junk.gguf")
        try Data("GGUF but not really".utf8).write(to: junk)
        r = try CLI.run(["import", junk.path, dir.appendingPathComponent("never").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(junk.path), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("never/model.safetensors").path))
    }

    func testApplyLoRAMatchesPeft() throws {
        let dir = try makeTemp(self)
        let fixture = CLI.fixtures.appendingPathComponent("lora")
        let out = dir.appendingPathComponent("merged")
        let r = try CLI.run(["apply-lora", CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded").path,
                             fixture.appendingPathComponent("plain").path, out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ours = try Checkpoint.open(out).weights
        let theirs = try SafeTensorsFile(url: fixture.appendingPathComponent("plain/expected.safetensors"))
        for info in theirs.infos {
            let a = try ours.tensor(named: info.name).toFloat32(), b = try theirs.tensor(named: info.name).toFloat32()
            for k in a.indices { XCTAssertEqual(a[k], b[k], accuracy: 1e-5, info.name) }
        }
        let bad = try CLI.run(["apply-lora", CLI.fixtures.appendingPathComponent("hf-tiny-llama-sharded").path,
                               dir.path, dir.appendingPathComponent("x").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("adapter_config.json"), bad.stderr)
    }
}
