import Foundation
import XCTest

/// `recallctl ui` end to end: a real daemon on its Unix socket only, the bridge on a free loopback
/// port, and raw HTTP through it: nothing without the printed token, a session cookie from the
/// login address, the pages and a live server-sent event stream forwarded, the API not forwarded,
/// and a rollback that still needs the page's CSRF token.
final class UIBridgeTests: XCTestCase {
    typealias Answer = RawHTTPAnswer

    /// One request on a fresh connection; reads until the bridge closes it, or only until `until`
    /// shows up in what arrived (for the endless event stream).
    func http(_ port: Int, _ method: String, _ path: String, host: String? = nil, cookie: String? = nil, form: String? = nil,
              until: String? = nil) throws -> Answer {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: keep-alive\r\nAccept: text/html\r\n"
        if let cookie { request += "Cookie: other=1; \(cookie)\r\n" }
        if let form { request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)" } else { request += "\r\n" }
        return try rawHTTP(port: port, request, until: until)
    }

    /// Starts `recallctl ui --port 0 --no-browser` and returns its process and login address.
    func startBridge(_ daemon: DaemonHarness) throws -> (Process, URL) {
        let p = Process()
        p.executableURL = CLI.binDirectory.appendingPathComponent("recallctl")
        p.arguments = ["ui", "--port", "0", "--no-browser", "--socket", daemon.socket]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        addTeardownBlock { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !text.contains("\n"), p.isRunning {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if text.components(separatedBy: "\n").contains(where: { $0.hasPrefix("open: ") }) { break }
        }
        let line = try XCTUnwrap(text.components(separatedBy: "\n").first { $0.hasPrefix("open: ") }, "recallctl ui printed: \(text)")
        return (p, try XCTUnwrap(URL(string: String(line.dropFirst("open: ".count)))))
    }

    func testTheBridgeNeedsItsTokenAndForwardsPagesFormsAndEvents() throws {
        let root = CLI.fixtures.appendingPathComponent("cl-tiny")
        let daemon = try DaemonHarness(self)
        try daemon.start()
        try daemon.ok(["init", root.appendingPathComponent("base").path, "--method", "recall", "--opt", "clusters=4"])
        try daemon.ok(["register", root.appendingPathComponent("expert-colour").path, "--task", "colour",
                       "--samples", root.appendingPathComponent("tasks/colour/samples.jsonl").path])

        let (_, login) = try startBridge(daemon)
        XCTAssertEqual(login.host, "127.0.0.1", "loopback only")
        let port = try XCTUnwrap(login.port)
        let token = try XCTUnwrap(URLComponents(url: login, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == "token" }?.value)
        XCTAssertEqual(token.count, 32, "a 128-bit token")

        // Without the token: the bridge's login page, never the daemon's data.
        for path in ["/", "/ui", "/ui/versions/2", "/ui/jobs/events", "/v1/status"] {
            let r = try http(port, "GET", path)
            XCTAssertEqual(r.status, 401, path)
            XCTAssertFalse(r.body.contains("colour") || r.body.contains("<svg"), "\(path) leaks registry data: \(r.body.prefix(300))")
        }
        XCTAssertEqual(try http(port, "POST", "/ui/versions/1/rollback", form: "csrf=x").status, 401)
        XCTAssertEqual(try http(port, "GET", "/login?token=\(String(repeating: "0", count: 32))").status, 401)
        XCTAssertEqual(try http(port, "GET", "/login?token=\(token)", host: "rebound.example:\(port)").status, 421, "a foreign Host is refused")

        let ok = try http(port, "GET", "/login?token=\(token)")
        XCTAssertEqual(ok.status, 303)
        XCTAssertEqual(ok.headers["location"], "/ui")
        let setCookie = try XCTUnwrap(ok.headers["set-cookie"])
        XCTAssertTrue(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"), setCookie)
        let cookie = try XCTUnwrap(setCookie.split(separator: ";").first.map(String.init))
        XCTAssertFalse(cookie.contains(token), "the session is not the token")
        XCTAssertEqual(try http(port, "GET", "/ui", cookie: "recall_ui_session=\(String(repeating: "f", count: 32))").status, 401, "a guessed session")

        // Pages through the bridge, as the daemon serves them on its socket.
        let lineage = try http(port, "GET", "/ui", cookie: cookie)
        XCTAssertEqual(lineage.status, 200, lineage.body)
        XCTAssertEqual(lineage.headers["connection"], "close")
        XCTAssertTrue(lineage.headers["content-security-policy"]?.contains("default-src 'none'") == true, "the daemon's headers pass through")
        XCTAssertTrue(lineage.body.contains("id=\"lineage-view\"") && lineage.body.contains("colour"), String(lineage.body.prefix(500)))
        XCTAssertEqual(try http(port, "GET", "/", cookie: cookie).headers["location"], "/ui")
        XCTAssertEqual(try http(port, "GET", "/v1/status", cookie: cookie).status, 404, "the API is not bridged")
        XCTAssertEqual(try http(port, "DELETE", "/ui", cookie: cookie).status, 405)
        let page = try http(port, "GET", "/ui/versions/2", cookie: cookie)
        XCTAssertEqual(page.status, 200)
        let layers = try daemon.json(["show", "2"])["layer_weights"]?.arrayValue?.count ?? 0
        XCTAssertGreaterThan(layers, 0)
        XCTAssertEqual(page.body.components(separatedBy: "class=\"cell\" data-row=\"layer ").count - 1, layers, "one heatmap cell per (layer, model)")

        // Server-sent events stream through.
        let events = try http(port, "GET", "/ui/jobs/events", cookie: cookie, until: "event: jobs")
        XCTAssertEqual(events.status, 200)
        XCTAssertEqual(events.headers["content-type"], "text/event-stream")
        XCTAssertTrue(events.body.contains("event: jobs\ndata: ["), String(events.body.prefix(300)))

        // A form post: refused without the page's CSRF token, done with it; head moves.
        XCTAssertEqual(try http(port, "POST", "/ui/versions/1/rollback", cookie: cookie, form: "csrf=forged").status, 403)
        XCTAssertEqual(try daemon.json(["status"])["head"]?.intValue, 2)
        let csrf = try XCTUnwrap(page.body.components(separatedBy: "name=\"csrf\" value=\"").dropFirst().first?.prefix { $0 != "\"" })
        let done = try http(port, "POST", "/ui/versions/1/rollback", cookie: cookie, form: "csrf=\(csrf)")
        XCTAssertEqual(done.status, 303, done.body)
        XCTAssertEqual(done.headers["location"], "/ui/versions/1")
        XCTAssertEqual(try daemon.json(["status"])["head"]?.intValue, 1, "head moved, as the API reports")
    }

    /// Without --no-browser, `recallctl ui` hands the login address to $BROWSER: here a script that
    /// records its arguments, so the test sees exactly what a browser would have been asked to open.
    func testUIOpensTheLoginAddressWithBROWSER() throws {
        let daemon = try DaemonHarness(self)
        try daemon.start()
        let dir = try makeTemp(self)
        let record = dir.appendingPathComponent("opened.txt"), script = dir.appendingPathComponent("browser.sh")
        try Data("#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" > \"\(record.path).tmp\" && mv \"\(record.path).tmp\" \"\(record.path)\"\n".utf8).write(to: script)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let p = Process()
        p.executableURL = CLI.binDirectory.appendingPathComponent("recallctl")
        p.arguments = ["ui", "--port", "0", "--socket", daemon.socket]
        var env = ProcessInfo.processInfo.environment
        env["BROWSER"] = script.path
        env["DISPLAY"] = nil
        env["WAYLAND_DISPLAY"] = nil
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        addTeardownBlock { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !FileManager.default.fileExists(atPath: record.path) { usleep(50_000) }
        let opened = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
        // What the browser was given logs in: a session cookie and on to the pages.
        let url = try XCTUnwrap(opened.last.flatMap { URLComponents(string: $0) })
        let answer = try http(try XCTUnwrap(url.port), "GET", url.path + "?" + (url.query ?? ""))
        XCTAssertEqual(answer.status, 303)
        XCTAssertEqual(answer.headers["location"], "/ui")
        XCTAssertTrue(answer.headers["set-cookie"]?.contains("HttpOnly") == true)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let login = try XCTUnwrap(printed.split(separator: "\n").first { $0.hasPrefix("open: ") }.map { String($0.dropFirst("open: ".count)) }, printed)
        XCTAssertEqual(opened, ["1", login], "$BROWSER got one argument: the login address recallctl ui printed")
        XCTAssertTrue(login.hasPrefix("http://127.0.0.1:") && login.contains("/login?token="), login)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(stderr.contains("opened it with \(script.path)"), stderr)
    }

    func testTheBridgeRefusesToStartWithoutADaemon() throws {
        let r = try CLI.run(["ui", "--port", "0", "--no-browser", "--socket", "/tmp/rr-none-\(UUID().uuidString.prefix(8)).sock"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no recall-registry answers"), r.stderr)
    }
}
