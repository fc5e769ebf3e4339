import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// The register request checks the model; the worker reads it later. A model rewritten in between
/// is refused by the worker (its fingerprint no longer matches) instead of stored unchecked.
final class RegisterFingerprintTests: RegistryTestCase {
    func testAModelChangedAfterSubmitIsRefusedWithAClearError() throws {
        _ = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "linear", scenario: .experts, options: [:])
        // A copy the test may rewrite: the colour expert, as a directory.
        let copy = try makeTempDirectory(self).appendingPathComponent("expert")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: model("expert-colour")), to: copy)
        let queued = try registry.submitRegister(RegisterRequest(model: copy.path, task: "colour", samples: try samples("colour")))
        XCTAssertEqual(queued.state, .queued)

        // Same shapes, other (still finite) values: the count expert's weights. Only the
        // fingerprint can tell; the fixed old mtime makes it differ even within one clock tick.
        let weights = copy.appendingPathComponent("model.safetensors")
        try FileManager.default.removeItem(at: weights)
        try Data(contentsOf: URL(fileURLWithPath: model("expert-count")).appendingPathComponent("model.safetensors")).write(to: weights)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)], ofItemAtPath: weights.path)

        try startWorker()
        let job = try finished(queued.id)
        XCTAssertEqual(job.state, .failed)
        XCTAssertEqual(job.error, "\(copy.path): model.safetensors changed after the register was checked; register the model again")
        XCTAssertEqual(try provenance.versions().map(\.number), [1], "no version from unchecked bytes")
        XCTAssertEqual(try provenance.models().map(\.kind), [.base], "nothing stored but the base")
        XCTAssertEqual(try provenance.head(), 1)
    }
}
