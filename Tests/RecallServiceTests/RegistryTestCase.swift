import Foundation
import XCTest
@testable import RecallAPI
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor
import RecallTestSupport

/// What a registry logged, in order (the worker logs from its own thread).
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// A real registry (LMDB + SQLite) on a temporary home, driven in process: no daemon, no socket.
/// The models are the tiny trained fixture (Tests/Fixtures/cl-tiny: a base, three experts fully
/// fine-tuned from it, each task's samples and eval items). The end-to-end versions of these
/// checks, through the spawned daemon, are in recallctlTests.
class RegistryTestCase: XCTestCase {
    static let tiny = Fixtures.url("cl-tiny")

    var home: URL!
    var registry: Registry!
    var workerStarted = false
    var log = LogLines()

    override func setUpWithError() throws {
        home = try makeTempDirectory(self).appendingPathComponent("home")
        registry = try openRegistry()
        // Added after the temporary directory's own block, so it runs first (blocks run last in,
        // first out): the worker stops and the store closes before the home is removed.
        addTeardownBlock { [unowned self] in
            if workerStarted { XCTAssertTrue(registry.stop(timeout: 120), "the worker stops") }
            registry = nil
        }
    }

    /// A registry on `home`, logging into `log`. Only one may be open at a time (LMDB allows one
    /// environment per file per process): release the previous one first.
    func openRegistry() throws -> Registry {
        let opened = try Registry(store: try RegistryStore(home: home))
        opened.log = { [log] in log.append($0) }
        return opened
    }

    func startWorker() throws {
        try registry.startWorker()
        workerStarted = true
    }

    func model(_ name: String) -> String { Self.tiny.appendingPathComponent(name).path }
    func samples(_ task: String) throws -> String {
        try String(contentsOf: Self.tiny.appendingPathComponent("tasks/\(task)/samples.jsonl"), encoding: .utf8)
    }
    func eval(_ task: String) throws -> String {
        try String(contentsOf: Self.tiny.appendingPathComponent("tasks/\(task)/eval.jsonl"), encoding: .utf8)
    }
    /// transformers' accuracy of `model` (base or expert-*) on `task`, from the fixture's expected.json.
    func oracleAccuracy(_ model: String, _ task: String) throws -> Double {
        let accuracy = try XCTUnwrap(try Fixtures.json("cl-tiny/expected.json") as? [String: Any])["accuracy"] as? [String: Any]
        let row = model == "base" ? accuracy?["base"] : (accuracy?["experts"] as? [String: Any])?[model]
        return try XCTUnwrap((row as? [String: Any])?[task] as? Double, "\(model)/\(task) in expected.json")
    }

    /// Waits until the worker finishes job `id` (succeeded or failed) and returns its row.
    func finished(_ id: Int, file: StaticString = #filePath, line: UInt = #line) throws -> JobRecord {
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let job = try XCTUnwrap(try registry.job(id), file: file, line: line)
            if job.isFinished { return job }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("job \(id) did not finish in 300 s", file: file, line: line)
        return try XCTUnwrap(try registry.job(id))
    }

    /// Submits a register, waits for it and checks that it succeeded.
    @discardableResult
    func register(_ request: RegisterRequest, file: StaticString = #filePath, line: UInt = #line) throws -> JobRecord {
        let job = try finished(try registry.submitRegister(request).id, file: file, line: line)
        XCTAssertEqual(job.state, .succeeded, "job \(job.id): \(job.error ?? "")", file: file, line: line)
        return job
    }

    var provenance: ProvenanceStore { registry.store.provenance }
}
