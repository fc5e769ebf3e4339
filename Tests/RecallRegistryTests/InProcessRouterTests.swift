import Foundation
import Hummingbird
import HummingbirdTesting
import XCTest
@testable import RecallAPI
@testable import RecallRegistry
@testable import RecallService
@testable import RecallStore
@testable import RecallTensor

/// The daemon's routers driven in process (HummingbirdTesting's router framework, no socket): the
/// same `buildApplication` `recall-registry serve` runs, over a real registry (LMDB + SQLite) on a
/// temporary home. The spawned-daemon tests in recallctlTests stay as the end-to-end checks.
final class InProcessRouterTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/cl-tiny")
    static let token = "in-process-test-token-0123456789"

    var home: URL!
    var registry: Registry!

    override func setUpWithError() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("recall-inproc-\(UUID().uuidString)")
        registry = try Registry(store: try RegistryStore(home: home))
        try registry.startWorker()
    }

    override func tearDownWithError() throws {
        _ = registry.stop(timeout: 30)
        try? FileManager.default.removeItem(at: home)
    }

    /// The application `serve` runs for `remote` (TCP) or the Unix socket; nothing is bound in `.router` tests.
    func application(remote: Bool) -> some ApplicationProtocol {
        let daemon = DaemonConfiguration(registry: registry, sessions: UISessions(token: Self.token), token: Self.token)
        let transport: Transport = remote ? .tcp(host: "127.0.0.1", port: 0) : .unixSocket(path: home.appendingPathComponent("recall.sock").path)
        return buildApplication(daemon, transport: transport)
    }

    func json(_ value: JSONValue) -> ByteBuffer { ByteBuffer(string: value.serialized()) }

    func body(_ response: TestResponse) throws -> JSONValue { try JSONValue.parse(Data(String(buffer: response.body).utf8)) }

    func error(_ response: TestResponse) throws -> ErrorBody {
        try XCTUnwrap(ErrorBody(json: try body(response)), String(buffer: response.body))
    }

    /// Waits for the worker to finish job `id`; fails the test if it failed.
    func waitForJob(_ id: Int) throws -> JobRecord {
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let job = try XCTUnwrap(try registry.store.provenance.job(id))
            if job.state == .succeeded { return job }
            if job.state == .failed { XCTFail("job \(id) failed: \(job.error ?? "")"); return job }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("job \(id) did not finish in 300 s")
        return try XCTUnwrap(try registry.store.provenance.job(id))
    }

    /// Init, register, rollback, tag and a second init, each through the Unix-socket router: the
    /// answers carry the API's types and the registry's state moves as they say.
    func testInitRegisterRollbackAndTagThroughTheRouter() async throws {
        let base = Self.fixtures.appendingPathComponent("base").path
        let expert = Self.fixtures.appendingPathComponent("expert-colour").path
        let samples = try String(contentsOf: Self.fixtures.appendingPathComponent("tasks/colour/samples.jsonl"), encoding: .utf8)
        try await application(remote: false).test(.router) { client in
            let initBody = InitRequest(base: base, method: "linear").json
            try await client.execute(uri: "/v1/init", method: .post, body: json(initBody)) { response in
                XCTAssertEqual(response.status, .created, String(buffer: response.body))
                XCTAssertEqual(try self.body(response)["version"]?.intValue, 1)
            }
            // Initialising twice is a conflict, said once (by the registry) with its one status.
            try await client.execute(uri: "/v1/init", method: .post, body: json(initBody)) { response in
                XCTAssertEqual(response.status, .conflict)
                XCTAssertTrue(try self.error(response).error.contains("already initialised"))
            }
            let register = RegisterRequest(model: expert, task: "colour", samples: samples).json
            let jobID = try await client.execute(uri: "/v1/register", method: .post, body: json(register)) { response in
                XCTAssertEqual(response.status, .accepted, String(buffer: response.body))
                return try XCTUnwrap(try self.body(response)["id"]?.intValue)
            }
            _ = try self.waitForJob(jobID)
            XCTAssertEqual(try self.registry.store.provenance.resolve("head"), 2)

            try await client.execute(uri: "/v1/rollback", method: .post, body: json(RollbackRequest(version: "1").json)) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(try self.body(response)["head"]?.intValue, 1)
            }
            XCTAssertEqual(try self.registry.store.provenance.resolve("head"), 1)
            try await client.execute(uri: "/v1/tags", method: .post, body: json(TagRequest(name: "colour-only", version: "2").json)) { response in
                XCTAssertEqual(response.status, .created)
            }
            XCTAssertEqual(try self.registry.store.provenance.resolve("colour-only"), 2)
            try await client.execute(uri: "/v1/rollback", method: .post, body: json(RollbackRequest(version: "9").json)) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(try self.registry.store.provenance.resolve("head"), 1, "a refused rollback leaves head")
            }
        }
    }

    /// Over TCP: no token is a 401 whose hint says how to pass one; with the token, a request that
    /// names a server path is a 403, and a mistyped field is a 400 naming the field.
    func testTCPRouterChecksTokenRefusesPathsAndNamesBadFields() async throws {
        try await application(remote: true).test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                XCTAssertEqual(response.status, .unauthorized)
                let e = try self.error(response)
                XCTAssertTrue(e.hint?.contains("--token-file") ?? false, e.line)
            }
            let auth: HTTPFields = [.authorization: "Bearer \(Self.token)"]
            try await client.execute(uri: "/v1/init", method: .post, headers: auth,
                                     body: json(InitRequest(base: "/etc").json)) { response in
                XCTAssertEqual(response.status, .forbidden)
                XCTAssertTrue(try self.error(response).error.contains("over TCP"))
            }
            try await client.execute(uri: "/v1/tags", method: .post, headers: auth,
                                     body: json(.object([("name", .int(3)), ("version", .string("1"))]))) { response in
                XCTAssertEqual(response.status, .badRequest)
                XCTAssertEqual(try self.error(response).error, "field \"name\" must be a string")
            }
            try await client.execute(uri: "/v1/status", method: .get, headers: auth) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(try self.body(response)["home"], .null, "no server path over TCP")
            }
        }
        XCTAssertNil(try registry.store.provenance.settings(), "nothing was initialised over TCP")
        try await application(remote: false).test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                XCTAssertEqual(try self.body(response)["home"]?.stringValue, self.registry.store.home.path, "the socket shows the home")
            }
        }
    }

    /// An empty upload is refused with 400 and leaves nothing in incoming/.
    func testEmptyUploadIsRefused() async throws {
        try await application(remote: false).test(.router) { client in
            try await client.execute(uri: "/v1/uploads?name=model.safetensors", method: .post) { response in
                XCTAssertEqual(response.status, .badRequest)
                XCTAssertTrue(try self.error(response).error.contains("upload is empty"))
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: registry.incoming.path), [])
    }

    /// A path the API serves, asked with a method it does not take, is 405 with `Allow` (Schemathesis
    /// ST204); a path it does not serve stays 404.
    func testUndeclaredMethodIs405WithAllow() async throws {
        try await application(remote: false).test(.router) { client in
            try await client.execute(uri: "/v1/versions/3", method: .init("TRACE")!) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
                XCTAssertEqual(response.headers[.allow], "GET")
                XCTAssertTrue(try self.error(response).error.contains("takes GET, not TRACE"))
            }
            try await client.execute(uri: "/v1/gc", method: .get) { response in
                XCTAssertEqual(response.status, .methodNotAllowed)
                XCTAssertEqual(response.headers[.allow], "POST")
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                XCTAssertEqual(response.status, .notFound)
            }
        }
    }

    /// Uploads no queued job names are removed when a worker starts; a queued job's upload stays.
    /// While the daemon runs, an upload no job names is removed once it is older than
    /// `uploadMaxAge`; a younger one (its register may be on the way) stays.
    func testStaleUploadsAreRemovedWhileRunning() throws {
        let stale = registry.incoming.appendingPathComponent("upload-\(UUID().uuidString)-model.safetensors")
        let fresh = registry.incoming.appendingPathComponent("upload-\(UUID().uuidString)-model.safetensors")
        for url in [stale, fresh] { XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data([1, 2, 3]))) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale.path)
        registry.removeOrphanUploads(olderThan: registry.uploadMaxAge)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path), "two hours old")
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh.path), "just uploaded")
    }

    func testOrphanUploadsAreRemovedAtStart() throws {
        _ = registry.stop(timeout: 30)
        let orphan = registry.incoming.appendingPathComponent("upload-\(UUID().uuidString)-model.safetensors")
        let kept = registry.incoming.appendingPathComponent("upload-\(UUID().uuidString)-model.safetensors")
        for url in [orphan, kept] { XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data([1, 2, 3]))) }
        _ = try registry.store.provenance.enqueueJob(kind: .register, payload: .object([("model", .string(kept.path))]))
        let restarted = try Registry(store: registry.store)
        restarted.removeOrphanUploads()
        XCTAssertFalse(FileManager.default.fileExists(atPath: orphan.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: kept.path))
    }
}
