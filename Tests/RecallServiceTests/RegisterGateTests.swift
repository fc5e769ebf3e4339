import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// The merge gate set at init: a version that costs a watched task more than the gate is still
/// recorded, but head stays where it was and the version says why.
final class RegisterGateTests: RegistryTestCase {
    /// Linear merge, experts scenario, gate 5 points. The colour expert with its eval items makes
    /// version 2 (colour at the expert's accuracy). Then the count expert registered as "colour"
    /// replaces the colour expert, so version 3 is the count expert alone and colour falls to
    /// about the base's accuracy: gated, head stays on 2.
    func testAGatedRegisterLeavesHeadAndRecordsTheReason() throws {
        _ = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "linear", scenario: .experts,
                                    options: [:], gatePoints: 5)
        XCTAssertEqual(try provenance.settings()?.gatePoints, 5)
        try startWorker()

        let kept = try register(RegisterRequest(model: model("expert-colour"), task: "colour", samples: try samples("colour"),
                                                eval: try eval("colour")))
        XCTAssertEqual(kept.result?["version"]?.intValue, 2)
        XCTAssertEqual(kept.result?["gated"]?.boolValue, false)
        XCTAssertEqual(try provenance.head(), 2)

        let refused = try register(RegisterRequest(model: model("expert-count"), task: "colour", samples: try samples("colour")))
        XCTAssertEqual(refused.result?["version"]?.intValue, 3, "\(refused.state): \(refused.error ?? "")")
        XCTAssertEqual(refused.result?["gated"]?.boolValue, true, "\(refused.state): \(refused.error ?? "")")

        // The accuracies the registry measured: the expert's and the count expert's on colour,
        // each transformers' own (expected.json) within one of the 40 items (f32 near-ties).
        let colour = try provenance.evaluations(metric: .accuracy).filter { $0.task == "colour" }
        XCTAssertEqual(colour.map(\.version), [2, 3])
        XCTAssertEqual(colour.map(\.n), [40, 40])
        XCTAssertEqual(colour[0].value, try oracleAccuracy("expert-colour", "colour"), accuracy: 1.0 / 40 + 1e-9)
        XCTAssertEqual(colour[1].value, try oracleAccuracy("expert-count", "colour"), accuracy: 1.0 / 40 + 1e-9)
        XCTAssertEqual(try XCTUnwrap(refused.result?["evaluations"]?["colour"]?.doubleValue), colour[1].value, accuracy: 1e-9)

        // Head did not move; version 3 is recorded, gated, with the reason in full.
        let reason = String(format: "task colour accuracy %.1f%% is more than 5.0 points below its best %.1f%% (version 2)",
                            colour[1].value * 100, colour[0].value * 100)
        XCTAssertEqual(try provenance.head(), 2, "head stays on version 2")
        XCTAssertEqual(try provenance.versions().count, 3, "the gated version is still recorded")
        let v3 = try XCTUnwrap(try provenance.version(3))
        XCTAssertTrue(v3.gated)
        XCTAssertEqual(v3.gateReason, reason)
        XCTAssertEqual(refused.result?["gate_reason"]?.stringValue, reason)
        XCTAssertEqual(v3.parentVersion, 2)
    }
}
