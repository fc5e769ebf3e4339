import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// A register a dead daemon left behind resumes in the next registry on the same home: the task
/// model it already stored is taken as it is, and the job makes exactly one version.
final class RegisterResumeTests: RegistryTestCase {
    /// Runs the job's first phase (storing the task model) the way the worker does, then drops the
    /// registry without finishing: the job row stays `running` and names its task model, as after
    /// a kill between the store phase and the merge. Returns the job's id and that model's id.
    func interruptAfterTheTaskModelIsStored() throws -> (job: Int, taskModel: Int) {
        _ = try registry.initialize(base: URL(fileURLWithPath: model("base")), method: "linear", scenario: .experts, options: [:])
        let queued = try registry.submitRegister(RegisterRequest(model: model("expert-colour"), task: "colour", samples: try samples("colour")))
        let claimed = try XCTUnwrap(try provenance.claimNextJob())
        XCTAssertEqual(claimed.id, queued.id)
        var pipeline = try RegisterPipeline(registry: registry, record: claimed, job: try RegisterJob(job: claimed))
        guard case let .stored(taskModel, _) = try pipeline.storeTaskModel() else {
            XCTFail("the store phase took the model for one registered before")
            return (claimed.id, -1)
        }
        return (claimed.id, taskModel.id)
    }

    func testAJobInterruptedAfterItsTaskModelWasStoredFinishesWithOneVersion() throws {
        let (id, taskModel) = try interruptAfterTheTaskModelIsStored()
        let left = try XCTUnwrap(try provenance.job(id))
        XCTAssertEqual(left.state, .running)
        XCTAssertEqual(left.phase, "store")
        XCTAssertEqual(left.result?["task_model_id"]?.intValue, taskModel)
        XCTAssertEqual(try provenance.models().map(\.kind), [.base, .task])
        XCTAssertEqual(try provenance.versions().count, 1)

        // The "restart": the first registry is closed (its store with it), a new one opens the home.
        registry = nil
        registry = try openRegistry()
        try startWorker()
        let job = try finished(id)
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        XCTAssertTrue(log.all.contains("job \(id) was interrupted by a restart; resuming it"), log.all.joined(separator: "\n"))
        XCTAssertEqual(job.result?["existing"]?.boolValue, false)
        XCTAssertEqual(job.result?["model_id"]?.intValue, taskModel, "the stored task model is taken, not stored again")
        XCTAssertEqual(job.result?["version"]?.intValue, 2)

        // Exactly one new version, merging the one task model; base, task model and merge stored once each.
        XCTAssertEqual(try provenance.versions().map(\.number), [1, 2])
        XCTAssertEqual(try provenance.head(), 2)
        XCTAssertEqual(try provenance.models().map(\.kind), [.base, .task, .merged])
        let v2 = try XCTUnwrap(try provenance.version(2))
        XCTAssertEqual(try provenance.model(id: v2.modelID)?.parentID, taskModel)
        XCTAssertEqual(try provenance.detail(of: 2).inputs.filter { $0.role == .new }.map(\.modelID), [taskModel])
        XCTAssertTrue(try registry.store.verify().isClean, "the store is consistent after the resume")
    }
}
