import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// The sequential loop in process: each register is trained from the head and merged onto it.
final class SequentialRegisterTests: RegistryTestCase {
    /// Two registers, the second a PEFT adapter trained from the head (Fixtures/lora/on-expert, an
    /// adapter on the colour expert): the versions chain 1 <- 2 <- 3, the adapter is applied to
    /// version 2's model and its task vector is taken against it. With task arithmetic at lambda 1
    /// the head H plus the new model N merges to H + (N - H) = N, which is PEFT's own
    /// merge_and_unload() of the adapter on the expert (expected.safetensors); anchored at the
    /// base it would be N + H - B.
    func testTwoRegistersChainOnTheHeadAndTakeTheTaskVectorAgainstIt() throws {
        let initial = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "task_arithmetic",
                                              scenario: .sequential, options: ["lambda": "1"])
        XCTAssertEqual(initial.number, 1)
        try startWorker()

        let first = try register(RegisterRequest(model: model("expert-colour"), task: "colour", samples: try samples("colour")))
        XCTAssertEqual(first.result?["version"]?.intValue, 2, "\(first.state): \(first.error ?? "")")
        let adapter = Fixtures.url("lora/on-expert")
        let second = try register(RegisterRequest(model: adapter.path, task: "count", samples: try samples("count"), trainedFrom: "head"))
        XCTAssertEqual(second.result?["version"]?.intValue, 3, "\(second.state): \(second.error ?? "")")
        // The adapter touches the 28 block linears of the 38 tensors; the other 10 are the head's,
        // taken over without being read, in the task model and in the merge alike.
        XCTAssertEqual(second.result?["reused_tensors"]?["task_model"]?.intValue, 10, "\(second.state): \(second.error ?? "")")
        XCTAssertEqual(second.result?["reused_tensors"]?["merged_model"]?.intValue, 10, "\(second.state): \(second.error ?? "")")

        // The parent chain and what each version was trained from.
        XCTAssertEqual(try provenance.head(), 3)
        let v2 = try XCTUnwrap(try provenance.version(2)), v3 = try XCTUnwrap(try provenance.version(3))
        XCTAssertEqual(v2.parentVersion, 1)
        XCTAssertEqual(v3.parentVersion, 2)
        XCTAssertEqual(try JSONValue.parse(Data(v2.optionsJSON.utf8))["trained_from"]?.intValue, 1)
        XCTAssertEqual(try JSONValue.parse(Data(v3.optionsJSON.utf8))["trained_from"]?.intValue, 2)
        // The adapter's task model descends from the head's model, and the merge from the task model.
        let taskModel = try XCTUnwrap(try provenance.model(id: try XCTUnwrap(second.result?["model_id"]?.intValue)))
        XCTAssertEqual(taskModel.kind, .task)
        XCTAssertEqual(taskModel.parentID, v2.modelID)
        XCTAssertEqual(try provenance.model(id: v3.modelID)?.parentID, taskModel.id)
        // Version 3 merges the head (version 2's model) and the new task model.
        let roles = try provenance.detail(of: 3).inputs.map { "\($0.role.rawValue):\($0.modelID)" }
        XCTAssertEqual(roles, ["base:\(try XCTUnwrap(try provenance.settings()).baseModelID)", "head:\(v2.modelID)", "new:\(taskModel.id)"])

        // H + (N - H) = N.
        let (_, merged) = try registry.store.checkpoint(version: "3")
        let expected = try SafeTensorsFile(url: adapter.appendingPathComponent("expected.safetensors"))
        // expected.safetensors holds the 28 block linears the adapter changes; the other 10 tensors
        // are the head's, here the colour expert's (B + 1 (C - B) = C).
        XCTAssertEqual(merged.infos.count, 38)
        XCTAssertEqual(expected.infos.count, 28)
        let expert = try Checkpoint.open(URL(fileURLWithPath: model("expert-colour"))).weights
        let changed = Set(expected.infos.map(\.name))
        for info in merged.infos where !changed.contains(info.name) {
            let got = try merged.tensor(named: info.name).toFloat32(), want = try expert.tensor(named: info.name).toFloat32()
            XCTAssertEqual(got.count, want.count, info.name)
            XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? 0, 1e-5, "\(info.name): not the head's tensor")
        }
        for info in expected.infos {
            let got = try merged.tensor(named: info.name).toFloat32(), want = try expected.tensor(named: info.name).toFloat32()
            XCTAssertEqual(got.count, want.count, info.name)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(info.name): merged head + (new - head) differs from the new model by \(worst)")
        }
    }
}
