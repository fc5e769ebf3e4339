import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// The register request checks the model; the worker reads it later. The request hard-links the
/// model into incoming/: a model saved again over its path in between is no concern (the job reads
/// the checked bytes), and one rewritten in place is refused by the worker (its fingerprint no
/// longer matches) instead of stored unchecked.
final class RegisterFingerprintTests: RegistryTestCase {
    func testAModelRewrittenInPlaceAfterSubmitIsRefusedWithAClearError() throws {
        _ = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "linear", scenario: .experts, options: [:])
        // A copy the test may rewrite: the colour expert, as a directory.
        let copy = try makeTempDirectory(self).appendingPathComponent("expert")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: model("expert-colour")), to: copy)
        let queued = try registry.submitRegister(RegisterRequest(model: copy.path, task: "colour", samples: try samples("colour")))
        XCTAssertEqual(queued.state, .queued)

        // Same shapes, other (still finite) values: the count expert's weights, written into the
        // same file (same inode, so into the hard link too). Only the fingerprint can tell; the
        // fixed old mtime makes it differ even within one clock tick.
        let weights = copy.appendingPathComponent("model.safetensors")
        let other = try Data(contentsOf: URL(fileURLWithPath: model("expert-count")).appendingPathComponent("model.safetensors"))
        let handle = try FileHandle(forWritingTo: weights)
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: other)
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)], ofItemAtPath: weights.path)

        try startWorker()
        let job = try finished(queued.id)
        XCTAssertEqual(job.state, .failed)
        XCTAssertEqual(job.error, "\(copy.path): model.safetensors changed after the register was checked; register the model again")
        XCTAssertEqual(try provenance.versions().map(\.number), [1], "no version from unchecked bytes")
        XCTAssertEqual(try provenance.models().map(\.kind), [.base], "nothing stored but the base")
        XCTAssertEqual(try provenance.head(), 1)
    }

    /// Saved again over its path (a new file, as most tools write), the model's checked bytes are
    /// still what the job stores: the colour expert, not what now sits at the path; the links are
    /// gone from incoming/ once the job is done.
    func testAModelReplacedAfterSubmitIsStoredAsChecked() throws {
        _ = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "linear", scenario: .experts, options: [:])
        let copy = try makeTempDirectory(self).appendingPathComponent("expert")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: model("expert-colour")), to: copy)
        let weights = copy.appendingPathComponent("model.safetensors")
        let checked = try makeTempDirectory(self).appendingPathComponent("checked.safetensors")
        try FileManager.default.copyItem(at: weights, to: checked)
        let queued = try registry.submitRegister(RegisterRequest(model: copy.path, task: "colour", samples: try samples("colour")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: registry.incoming.path).filter { $0.hasPrefix("link-") }.count, 1)

        try FileManager.default.removeItem(at: weights)
        try Data(contentsOf: URL(fileURLWithPath: model("expert-count")).appendingPathComponent("model.safetensors")).write(to: weights)

        try startWorker()
        let job = try finished(queued.id)
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        let task = try XCTUnwrap(try provenance.models().first { $0.kind == .task })
        let stored = try registry.store.checkpoint(of: task)
        let original = try SafeTensorsFile(url: checked)
        for info in original.infos {
            XCTAssertEqual(try stored.tensor(named: info.name).copyBytes(), try original.tensor(named: info.name).copyBytes(), info.name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: registry.incoming.path).filter { $0.hasPrefix("link-") }, [],
                       "the job's links are removed when it ends")
    }
}
