import Foundation
import Hummingbird
import HummingbirdTesting
import XCTest
@testable import RecallAPI
@testable import RecallRegistry
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor

/// The registry's in-process job progress stream and what rides on it: a register's phases
/// arrive in order and end with the job's final state, a stream subscribed after the end still
/// ends, a failed job ends its stream, a damaged job row fails naming the field, and the watch
/// route follows the stream to the end. Real registries (LMDB + SQLite) on temporary homes.
final class JobProgressStreamTests: XCTestCase {
    static let fixtures = InProcessRouterTests.fixtures

    var home: URL!
    var registry: Registry!

    override func setUpWithError() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("recall-progress-\(UUID().uuidString)")
        registry = try Registry(store: try RegistryStore(home: home))
    }

    override func tearDownWithError() throws {
        _ = registry.stop(timeout: 60)
        try? FileManager.default.removeItem(at: home)
    }

    func fixture(_ path: String) -> URL { Self.fixtures.appendingPathComponent(path) }

    func text(_ path: String) throws -> String { try String(contentsOf: fixture(path), encoding: .utf8) }

    /// A register of the colour expert with its eval items (so the job encodes text with the base's tokenizer).
    func colourRequest(model: URL? = nil) throws -> RegisterRequest {
        RegisterRequest(model: (model ?? fixture("expert-colour")).path, task: "colour", samples: try text("tasks/colour/samples.jsonl"),
                        eval: try text("tasks/colour/eval.jsonl"))
    }

    /// Every change the stream delivers until it finishes (fails the test after `timeout`).
    func collect(_ stream: AsyncStream<JobProgress>, timeout: TimeInterval = 300) async throws -> [JobProgress] {
        try await withThrowingTaskGroup(of: [JobProgress]?.self) { group in
            group.addTask { var all: [JobProgress] = []; for await change in stream { all.append(change) }; return all }
            group.addTask { try await Task.sleep(nanoseconds: UInt64(timeout * 1e9)); return nil }
            let first = try await group.next()!
            group.cancelAll()
            return try XCTUnwrap(first, "the progress stream did not finish in \(timeout) s")
        }
    }

    func testStreamDeliversPhasesInOrderThenTheFinalState() async throws {
        _ = try registry.initialize(base: fixture("base"), method: "linear", scenario: .experts, options: [:])
        let job = try registry.submitRegister(try colourRequest())
        // Subscribed before the worker starts: nothing can be missed.
        let stream = registry.progressUpdates(job: job.id)
        try registry.startWorker()
        let changes = try await collect(stream)

        XCTAssertTrue(changes.allSatisfy { $0.job == job.id })
        XCTAssertEqual(changes.first?.state, .running)
        let end = try XCTUnwrap(changes.last)
        XCTAssertEqual(end, JobProgress(job: job.id, state: .succeeded, phase: "done", progress: 1))
        XCTAssertEqual(changes.filter(\.isFinished).count, 1, "exactly one end, delivered last")
        // Phases in pipeline order (linear has no statistics/select/represent), progress never going back.
        var phases: [String] = []
        for c in changes { if let p = c.phase, p != phases.last { phases.append(p) } }
        XCTAssertEqual(phases, ["store", "fuse", "store-merged", "evaluate", "commit", "done"])
        XCTAssertEqual(changes.map(\.progress), changes.map(\.progress).sorted(), "progress only grows")

        // The row agrees with the stream's end, and the eval ran with the tokenizer read from the store.
        let row = try XCTUnwrap(try registry.job(job.id))
        XCTAssertEqual(row.state, .succeeded)
        XCTAssertEqual(row.result?["version"]?.intValue, 2)
        XCTAssertNotNil(row.result?["evaluations"]?["colour"]?.doubleValue)
        let cache = (try? FileManager.default.contentsOfDirectory(atPath: home.appendingPathComponent("cache").path)) ?? []
        XCTAssertFalse(cache.contains { $0.hasPrefix("base-") }, "the base's files are not written to disk: \(cache)")

        // A watcher that subscribes after the end gets the end at once, and its stream finishes.
        let late = try await collect(registry.progressUpdates(job: job.id), timeout: 5)
        XCTAssertEqual(late, [end])
    }

    /// The worker's fingerprint check: a model rewritten while its job waited is refused, and the
    /// refusal ends the job's stream with `failed`.
    func testModelChangedWhileQueuedFailsAndEndsTheStream() async throws {
        _ = try registry.initialize(base: fixture("base"), method: "linear", scenario: .experts, options: [:])
        let copy = home.appendingPathComponent("expert-copy")
        try FileManager.default.copyItem(at: fixture("expert-colour"), to: copy)
        let job = try registry.submitRegister(try colourRequest(model: copy))
        let weights = copy.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: weights)
        let handle = try FileHandle(forWritingTo: weights)  // rewritten in place: same bytes, another mtime
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)], ofItemAtPath: weights.path)

        let stream = registry.progressUpdates(job: job.id)
        try registry.startWorker()
        let changes = try await collect(stream)
        XCTAssertEqual(changes.last?.state, .failed)
        let row = try XCTUnwrap(try registry.job(job.id))
        XCTAssertEqual(row.state, .failed)
        XCTAssertTrue(row.error?.contains("model.safetensors changed after the register was checked") == true, row.error ?? "")
        XCTAssertNil(try registry.store.provenance.version(2), "nothing was committed")
    }

    /// A job row whose payload lost a field fails with a one-line error naming the job and field.
    func testDamagedJobPayloadFailsNamingJobAndField() async throws {
        _ = try registry.initialize(base: fixture("base"), method: "linear", scenario: .experts, options: [:])
        var payload = try colourRequest().json.objectValue ?? []
        payload.removeAll { $0.0 == "task" }
        let job = try registry.store.provenance.enqueueJob(kind: .register, payload: .object(payload))
        let stream = registry.progressUpdates(job: job.id)
        try registry.startWorker()
        let changes = try await collect(stream)
        XCTAssertEqual(changes.last?.state, .failed)
        let error = try XCTUnwrap(try registry.job(job.id)?.error)
        XCTAssertTrue(error.contains("job \(job.id)") && error.contains("\"task\" is missing"), error)
        XCTAssertEqual(error.split(separator: "\n").count, 1)
    }

    /// `GET /v1/jobs/:id/watch` follows the stream: NDJSON lines whose states only move forward,
    /// ending with the job's final row; watching it again afterwards answers one line and ends.
    func testWatchRouteFollowsTheJobToItsEnd() async throws {
        registry = try Registry(store: registry.store, phaseDelay: 0.05)
        _ = try registry.initialize(base: fixture("base"), method: "linear", scenario: .experts, options: [:])
        let job = try registry.submitRegister(try colourRequest())
        try registry.startWorker()
        let daemon = DaemonConfiguration(registry: registry, sessions: UISessions(token: InProcessRouterTests.token), token: InProcessRouterTests.token)
        let app = buildApplication(daemon, transport: .unixSocket(path: registry.store.home.appendingPathComponent("recall.sock").path))
        try await app.test(.router) { client in
            for pass in 0..<2 {
                let lines = try await client.execute(uri: "/v1/jobs/\(job.id)/watch", method: .get) { response in
                    XCTAssertEqual(response.status, .ok)
                    return try String(buffer: response.body).split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
                }
                let states = lines.compactMap { $0["state"]?.stringValue }
                XCTAssertEqual(states.last, "succeeded", "pass \(pass): \(states)")
                XCTAssertEqual(lines.last?["result"]?["version"]?.intValue, 2)
                XCTAssertEqual(states.filter { $0 == "succeeded" }.count, 1)
                let order = ["queued", "running", "succeeded"]
                XCTAssertEqual(states.map { order.firstIndex(of: $0) ?? -1 }, states.map { order.firstIndex(of: $0) ?? -1 }.sorted())
                if pass == 1 { XCTAssertEqual(lines.count, 1, "a finished job answers its row once") }
            }
        }
    }
}
