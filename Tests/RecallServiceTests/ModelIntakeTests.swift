import Foundation
import XCTest
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// The register request reads headers only (#17: a 12 GB model must not hold the request for
/// minutes): `ModelIntake.check` asks a full model for no tensor at all, and an adapter only for
/// its own factors, never for the applied weights.
final class ModelIntakeTests: XCTestCase {
    /// A source that counts the tensors asked of it.
    final class Counting: TensorSource, @unchecked Sendable {
        let inner: TensorSource
        private(set) var asked: [String] = []
        init(_ inner: TensorSource) { self.inner = inner }
        var infos: [TensorInfo] { inner.infos }
        var metadata: [(String, String)] { inner.metadata }
        func tensor(named name: String) throws -> TensorView { asked.append(name); return try inner.tensor(named: name) }
    }

    func testAFullModelIsCheckedWithoutReadingATensor() throws {
        let base = try Checkpoint.open(RegistryTestCase.tiny.appendingPathComponent("base")).weights
        let expert = try Checkpoint.open(RegistryTestCase.tiny.appendingPathComponent("expert-colour")).weights
        let candidate = Counting(expert)
        try ModelIntake.check(candidate, against: base, file: "expert")
        XCTAssertEqual(candidate.asked, [])
    }

    func testAnAdapterIsCheckedByItsOwnTensorsOnly() throws {
        let fixtures = Fixtures.url("hf-tiny-llama-sharded")
        let base = Counting(try Checkpoint.open(fixtures).weights)
        let opened = try ModelIntake.open(Fixtures.url("lora/plain"), trainedFrom: base)
        XCTAssertEqual(opened.format, .peftLoRA)
        try ModelIntake.check(opened.weights, against: base, file: "plain")
        XCTAssertEqual(base.asked, [], "the base weights the adapter applies to are not read in the request")
    }
}
