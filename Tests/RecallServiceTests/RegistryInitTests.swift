import Foundation
import XCTest
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// `init` stores the base in one pass: its put scans every chunk for NaN/Inf as it encodes it,
/// so a bad base fails with the file and tensor named and leaves an empty store.
final class RegistryInitTests: XCTestCase {
    func testABaseWithANaNIsRefusedAndNothingIsStored() throws {
        let root = try makeTempDirectory(self)
        let tiny = RegistryTestCase.tiny.appendingPathComponent("base")
        let base = root.appendingPathComponent("nan-base")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: tiny.path) where f != "model.safetensors" {
            try FileManager.default.copyItem(at: tiny.appendingPathComponent(f), to: base.appendingPathComponent(f))
        }
        let weights = try Checkpoint.open(tiny).weights
        let bad = weights.infos[weights.infos.count - 2].name   // late, so earlier batches are committed first
        try SafeTensorsWriter().write(try weights.infos.map { info in
            var values = try weights.tensor(named: info.name).toFloat32()
            if info.name == bad { values[values.count - 1] = .nan }
            return TensorView(name: info.name, shape: info.shape, float32: values, as: info.dtype)
        }, to: base.appendingPathComponent("model.safetensors"))
        let count = weights.infos.first { $0.name == bad }!.elementCount

        let store = try RegistryStore(home: root.appendingPathComponent("home"), batchBytes: 8192)
        let registry = try Registry(store: store)
        XCTAssertThrowsError(try registry.initialize(base: base, method: "linear", scenario: .experts, options: [:])) { error in
            let message = "\(error)"
            XCTAssertEqual((error as? RecallError)?.kind, .invalidFile, message)
            for part in [base.path, "tensor \"\(bad)\"", "NaN", "element \(count - 1)"] { XCTAssertTrue(message.contains(part), message) }
        }
        XCTAssertNil(try store.provenance.settings(), "not initialised")
        XCTAssertEqual(try store.provenance.models().count, 0)
        XCTAssertEqual(try store.blobs.chunkStatistics().count, 0, "the base's committed chunks are given back")
        XCTAssertEqual(try store.blobs.manifestHashes(), [])
    }
}
