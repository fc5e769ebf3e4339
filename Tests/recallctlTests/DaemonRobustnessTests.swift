import Foundation
import XCTest
@testable import RecallTensor

/// Idempotency, concurrency, crashes, limits and authentication against the real daemon.
final class DaemonRobustnessTests: XCTestCase {
    func testIdenticalContentIsIdempotent() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        let expert = try models.expert("alpha", seed: 1)
        try daemon.ok(["register", expert.path, "--task", "alpha", "--samples", try models.samples("alpha").path])
        let again = try daemon.ok(["register", expert.path, "--task", "alpha", "--samples", try models.samples("alpha").path, "--upload"])
        XCTAssertTrue(again.stdout.contains("already registered"), again.stdout)
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 2, "no new version")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.home.appendingPathComponent("incoming").path)
            .filter { $0.hasPrefix("upload-") }, [], "the upload is removed after its job")
    }

    func testEightConcurrentClientsLoseNothing() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "ties", "--opt", "density=0.5"])
        let tasks = (0..<8).map { "task\($0)" }
        let inputs = try tasks.enumerated().map { i, t in (t, try models.expert(t, seed: UInt64(100 + i)), try models.samples(t)) }
        var results = [CLIResult?](repeating: nil, count: inputs.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
            let r = try? daemon.ctl(["register", inputs[i].1.path, "--task", inputs[i].0, "--samples", inputs[i].2.path])
            lock.lock(); results[i] = r; lock.unlock()
        }
        for (i, r) in results.enumerated() { XCTAssertEqual(r?.status, 0, "client \(i): \(r?.stderr ?? "no result")") }
        let history = try daemon.json(["history"]).arrayValue ?? []
        XCTAssertEqual(history.count, 9)
        XCTAssertEqual(Set(history.compactMap { $0["task"]?.stringValue }), Set(tasks), "every register became a version")
        // Jobs ran one at a time in arrival order, each merging onto the previous head.
        XCTAssertEqual(history.map { $0["parent"]?.intValue }, [nil] + (1...8).map { $0 })
        let last = try daemon.json(["show", "head"])
        XCTAssertEqual(last["inputs"]?.arrayValue?.filter { $0["role"]?.stringValue != "base" }.count, 8, "the last version merges all 8 experts")
        let jobs = try daemon.json(["jobs"]).arrayValue ?? []
        XCTAssertEqual(jobs.filter { $0["state"]?.stringValue == "succeeded" }.count, 8)
    }

    /// The request checks the model; a job waits; the file is rewritten in place meanwhile: the worker
    /// refuses it (the fingerprint taken at the check no longer matches) instead of storing
    /// bytes nobody checked, and the store stays as it was.
    func testModelChangedWhileTheJobWaitedIsRefused() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start(prefix: ["RECALL_JOB_PHASE_DELAY_MS=1500"])
        try daemon.ok(["init", models.base.path, "--method", "linear"])
        let file = try models.expert("alpha", seed: 1)
        let queued = try daemon.json(["register", file.path, "--task", "alpha", "--samples", try models.samples("alpha").path, "--no-wait"])
        let id = try XCTUnwrap(queued["id"]?.intValue)
        // Same shapes, other (still finite) values, written into the same file (a save that
        // replaces the file instead leaves the job its checked bytes): only the fingerprint can tell.
        let other = try Data(contentsOf: try models.expert("beta", seed: 2))
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: other)
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)], ofItemAtPath: file.path)
        let watched = try daemon.ctl(["jobs", "--watch", String(id), "--json"])
        XCTAssertEqual(watched.status, 1, "a failed job exits 1")
        let job = try JSONValue.parse(Data(watched.stdout.utf8), rejectDuplicateKeys: false)
        XCTAssertEqual(job["state"]?.stringValue, "failed", job.serialized())
        XCTAssertTrue(job["error"]?.stringValue?.contains("changed after the register was checked") == true, job.serialized())
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 1, "no version from unchecked bytes")
        XCTAssertEqual(try daemon.json(["status"])["models"]?.intValue, 1, "nothing stored but the base")
    }

    func testKillDashNineMidJobThenRestartResumes() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start(prefix: ["RECALL_JOB_PHASE_DELAY_MS=400"])
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        let queued = try daemon.json(["register", try models.expert("alpha", seed: 1).path, "--task", "alpha",
                                      "--samples", try models.samples("alpha").path, "--no-wait"])
        let id = try XCTUnwrap(queued["id"]?.intValue)
        // Wait until the task model is stored and the merge has begun, then kill -9.
        var phase = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !["select", "represent", "fuse"].contains(phase) {
            let job = try daemon.json(["jobs"]).arrayValue?.first { $0["id"]?.intValue == id }
            phase = job?["phase"]?.stringValue ?? ""
            usleep(20_000)
        }
        XCTAssertTrue(["select", "represent", "fuse"].contains(phase), "job reached the merge phases (saw '\(phase)')")
        daemon.stop(signal: SIGKILL)

        try daemon.start()
        let finished = try daemon.json(["jobs", "--watch", String(id)])
        XCTAssertEqual(finished["state"]?.stringValue, "succeeded", finished.serialized())
        XCTAssertTrue(daemon.log.contains("resuming"), "the restart says it resumes the job")
        let history = try daemon.json(["history"]).arrayValue ?? []
        XCTAssertEqual(history.count, 2, "exactly one version from the resumed job")
        let status = try daemon.json(["status"])
        XCTAssertEqual(status["models"]?.intValue, 3, "base, the task model stored once, the merge")
        XCTAssertEqual(try daemon.json(["verify"])["clean"]?.boolValue, true)
    }

    func testTCPNeedsTheTokenAndBodiesHaveALimit() throws {
        let models = try TinyModels(self)
        let tokenFile = models.root.appendingPathComponent("token")
        try Data("s3cret-token-0123456789\n".utf8).write(to: tokenFile)
        let port = 20000 + Int(getpid() % 20000)
        let daemon = try DaemonHarness(self, arguments: ["--listen", "127.0.0.1:\(port)", "--token-file", tokenFile.path, "--max-body", "2000"])
        try daemon.start()
        // With the token: works, including a streamed upload register.
        let remote = ["--url", "http://127.0.0.1:\(port)", "--token-file", tokenFile.path]
        XCTAssertEqual(try CLI.run(["status"] + remote).status, 0)
        // Without or with a wrong token: 401, named.
        let wrong = models.root.appendingPathComponent("wrong")
        try Data("not-the-token-at-all\n".utf8).write(to: wrong)
        let denied = try CLI.run(["status", "--url", "http://127.0.0.1:\(port)", "--token-file", wrong.path])
        XCTAssertEqual(denied.status, 1)
        XCTAssertTrue(denied.stderr.contains("bearer token"), denied.stderr)
        let raw = try rawHTTP(port: port, "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 401"), raw)

        try daemon.ok(["init", models.base.path, "--method", "linear"])
        let big = try models.samples("big", texts: (0..<200).map { "sample number \($0) with some padding text" })
        let tooBig = try daemon.ctl(["register", try models.expert("a", seed: 1).path, "--task", "big", "--samples", big.path])
        XCTAssertEqual(tooBig.status, 1)
        XCTAssertTrue(tooBig.stderr.contains("larger than the limit"), tooBig.stderr)
        let viaTCP = try CLI.run(["register", try models.expert("b", seed: 2).path, "--task", "small", "--samples",
                                  try models.samples("small", texts: ["one", "two"]).path] + remote)
        XCTAssertEqual(viaTCP.status, 0, viaTCP.stderr)
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 2)
    }

    /// Over TCP a token holder sends and receives bytes only: every route that would read or
    /// write a path on the daemon's machine answers 403 with the reason, uploads get names the
    /// daemon makes and come back as ids (never paths), and an id with `/` or `..` is refused.
    func testTCPClientsNeverNameServerPaths() throws {
        let models = try TinyModels(self)
        let tokenFile = models.root.appendingPathComponent("token")
        let token = "s3cret-token-0123456789"
        try Data((token + "\n").utf8).write(to: tokenFile)
        let port = 20000 + Int((getpid() + 7919) % 20000)
        let daemon = try DaemonHarness(self, arguments: ["--listen", "127.0.0.1:\(port)", "--token-file", tokenFile.path])
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "linear"])
        func post(_ path: String, _ body: String) throws -> String {
            try rawHTTP(port: port, "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        }
        let expert = try models.expert("a", seed: 1).path
        let register = try post("/v1/register", #"{"model": "\#(expert)", "task": "a", "samples": "{\"text\": \"x\"}\n"}"#)
        XCTAssertTrue(register.hasPrefix("HTTP/1.1 403"), register)
        XCTAssertTrue(register.contains("/v1/uploads"), register)
        let outside = models.root.appendingPathComponent("written-by-the-daemon")
        let export = try post("/v1/versions/1/export", #"{"path": "\#(outside.path)", "force": true}"#)
        XCTAssertTrue(export.hasPrefix("HTTP/1.1 403"), export)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside.path), "nothing written where the client asked")
        XCTAssertTrue(try post("/v1/init", #"{"base": "\#(models.base.path)"}"#).hasPrefix("HTTP/1.1 403"))
        for id in ["../registry.sqlite", "upload-x/../../etc", "/etc/passwd"] {
            let r = try post("/v1/register", #"{"upload": "\#(id)", "task": "a", "samples": "{\"text\": \"x\"}\n"}"#)
            XCTAssertTrue(r.hasPrefix("HTTP/1.1 400"), "\(id): \(r)")
        }
        let upload = try post("/v1/uploads?name=..%2F..%2Fevil.st", "not a model")
        XCTAssertTrue(upload.hasPrefix("HTTP/1.1 201"), upload)
        XCTAssertFalse(upload.contains("\"path\""), "no server path in a TCP answer: \(upload)")
        let id = try XCTUnwrap(upload.components(separatedBy: "\"upload\":\"").dropFirst().first?.components(separatedBy: "\"").first, upload)
        XCTAssertFalse(id.contains("/") || id.hasPrefix("."), id)
        let files = try FileManager.default.contentsOfDirectory(atPath: daemon.home.appendingPathComponent("incoming").path)
        XCTAssertTrue(files.contains(id), "the upload lands in incoming/ under the daemon's name: \(files)")
        // The bad upload is refused by the model checks, and the store is as it was.
        let bad = try post("/v1/register", #"{"upload": "\#(id)", "task": "a", "samples": "{\"text\": \"x\"}\n"}"#)
        XCTAssertTrue(bad.hasPrefix("HTTP/1.1 400"), bad)
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 1)
        // Over the Unix socket (same user) paths stay allowed.
        try daemon.ok(["register", expert, "--task", "a", "--samples", try models.samples("a").path])
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 2)
    }

    func rawHTTP(port: Int, _ request: String) throws -> String {
        let fd = try loopbackConnection(port: port)
        defer { close(fd) }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var out = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &out, out.count, 0)
        return String(decoding: out[0..<max(0, n)], as: UTF8.self)
    }

    func testDiskFullFailsTheJobAndKeepsTheStoreConsistent() throws {
        let models = try TinyModels(self)
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", models.base.path, "--method", "recall", "--opt", "clusters=3", "--opt", "lambda=1"])
        try daemon.ok(["register", try models.expert("alpha", seed: 1).path, "--task", "alpha", "--samples", try models.samples("alpha").path])
        let before = try daemon.json(["history"])
        daemon.stop()
        // Restart with a file-size limit just above what is on disk now: the next register's
        // writes hit EFBIG, as on a full disk.
        let sizes = try FileManager.default.subpathsOfDirectory(atPath: daemon.home.path).map {
            (try? FileManager.default.attributesOfItem(atPath: daemon.home.appendingPathComponent($0).path)[.size] as? Int) ?? 0
        }
        let limitKB = (sizes.max() ?? 0) / 1024 + 8
        try daemon.start(prefix: ["ulimit -f \(limitKB);"])
        let beta = try models.expert("beta", seed: 2).path, betaSamples = try models.samples("beta").path
        let r = try daemon.ctl(["register", beta, "--task", "beta", "--samples", betaSamples])
        XCTAssertEqual(r.status, 1, "the register fails: \(r.stdout)")
        XCTAssertTrue(r.stderr.contains("failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("free disk space"), r.stderr)
        // A second write after a failed commit: LMDB freed the failed transaction itself, and
        // aborting it again used to crash the daemon on this register.
        let again = try daemon.ctl(["register", beta, "--task", "beta", "--samples", betaSamples])
        XCTAssertEqual(again.status, 1, again.stdout)
        XCTAssertEqual(try daemon.json(["status"])["head"]?.intValue, 2, "the daemon is still serving after two failed commits")
        daemon.stop()
        try daemon.start()
        XCTAssertEqual(try daemon.json(["history"]), before, "no half-made version")
        XCTAssertEqual(try daemon.json(["verify"])["clean"]?.boolValue, true)
        try daemon.ok(["gc"])
        try daemon.ok(["register", try models.expert("gamma", seed: 3).path, "--task", "gamma", "--samples", try models.samples("gamma").path])
        XCTAssertEqual(try daemon.json(["history"]).arrayValue?.count, 3, "the registry works again once there is room")
    }
}
