import Foundation
import XCTest

/// The daemon's web pages on TCP, through a real daemon: nothing but the login page without the
/// token, a session cookie from `/login?token=...`, pages whose numbers are the API's, and a
/// rollback from the page that needs the form's CSRF token.
final class WebPagesTests: XCTestCase {
    typealias HTTPResponse = RawHTTPAnswer

    /// One request on a fresh connection, read to the end (`Connection: close`).
    func http(_ port: Int, _ method: String, _ path: String, cookie: String? = nil, form: String? = nil) throws -> HTTPResponse {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let cookie { request += "Cookie: recall_session=\(cookie)\r\n" }
        if let form { request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)" } else { request += "\r\n" }
        return try rawHTTP(port: port, request)
    }

    func testPagesBehindTheLoginShowTheAPIsNumbersAndRollBackWithCSRF() throws {
        let root = CLI.fixtures.appendingPathComponent("cl-tiny")
        let dir = try makeTemp(self)
        let token = "page-token-0123456789abcdef"
        let tokenFile = dir.appendingPathComponent("token")
        try Data((token + "\n").utf8).write(to: tokenFile)
        let port = 20000 + Int((getpid() + 4099) % 20000)
        let daemon = try DaemonHarness(self, arguments: ["--listen", "127.0.0.1:\(port)", "--token-file", tokenFile.path])
        try daemon.start()
        try daemon.ok(["init", root.appendingPathComponent("base").path, "--method", "recall", "--opt", "clusters=4"])
        for t in ["colour", "count"] {
            try daemon.ok(["register", root.appendingPathComponent("expert-\(t)").path, "--task", t,
                           "--samples", root.appendingPathComponent("tasks/\(t)/samples.jsonl").path,
                           "--eval", root.appendingPathComponent("tasks/\(t)/eval.jsonl").path])
        }
        // No token: the login page and nothing of the registry.
        for path in ["/", "/ui", "/ui/versions/3", "/ui/jobs/events"] {
            let r = try http(port, "GET", path)
            XCTAssertEqual(r.status, 401, path)
            XCTAssertFalse(r.body.contains("colour"), "\(path) leaks registry data: \(r.body.prefix(300))")
        }
        XCTAssertEqual(try http(port, "GET", "/login?token=wrong-token-000000000").status, 401)
        let login = try http(port, "GET", "/login?token=\(token)")
        XCTAssertEqual(login.status, 303)
        let cookie = try XCTUnwrap(login.headers["set-cookie"])
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let session = try XCTUnwrap(cookie.split(separator: ";").first?.split(separator: "=").last.map(String.init))

        for path in ["/ui", "/ui/matrix", "/ui/jobs", "/ui/store"] {
            let r = try http(port, "GET", path, cookie: session)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertTrue(r.body.hasPrefix("<!DOCTYPE html>"), path)
            XCTAssertFalse(r.body.contains("src=\"http") || r.body.contains("href=\"http"), "\(path): no external asset")
        }
        // The lineage: a static SVG with every node (works without script) inside the pan/zoom viewport.
        let lineage = try http(port, "GET", "/ui", cookie: session).body
        XCTAssertEqual(lineage.components(separatedBy: "<g class=\"node\"").count - 1, 3)
        XCTAssertTrue(lineage.contains("id=\"lineage-view\"") && lineage.contains("tabindex=\"0\"") && lineage.contains("<script>"), "pan/zoom viewport")
        XCTAssertFalse(lineage.contains("<script src"), "the script is embedded")
        // Edges: parent -> child, and each task model -> the version it fed (drawn apart); a group
        // with labelled links for screen readers (role="img" would hide them).
        XCTAssertTrue(lineage.contains("class=\"lineage\" role=\"group\""), "the lineage SVG is a group")
        XCTAssertEqual(lineage.components(separatedBy: "<path class=\"edge\"").count - 1, 2)
        for n in [2, 3] {
            let show = try daemon.json(["show", String(n)])
            let new = try XCTUnwrap(show["inputs"]?.arrayValue?.first { $0["role"]?.stringValue == "new" }?["model_id"]?.intValue)
            XCTAssertTrue(lineage.contains("class=\"task-edge\" aria-hidden=\"true\" data-model=\"\(new)\" data-to=\"\(n)\""), "task model \(new) -> version \(n)")
        }
        XCTAssertEqual(lineage.components(separatedBy: "class=\"task-edge\"").count - 1, 2, "one task-model edge per register")
        XCTAssertTrue(lineage.contains("<a href=\"/ui/versions/3\" aria-label=\"version 3: count,"), "node links are labelled")
        XCTAssertTrue(lineage.contains("Head has never been rolled back") && !lineage.contains("class=\"rollback-marker\""))

        let page = try http(port, "GET", "/ui/versions/3", cookie: session)
        XCTAssertEqual(page.status, 200)
        // The commands that reproduce version 3, with the file names the user must supply.
        XCTAssertTrue(page.body.contains("<pre id=\"reproduce\"><code>recallctl init BASE_DIR --method recall --scenario experts --opt clusters=4\n"
            + "recallctl register expert-count --task count --samples samples.jsonl --eval eval.jsonl --parent 2</code></pre>"),
                      String(page.body.components(separatedBy: "id=\"h-reproduce\"").last?.prefix(600) ?? ""))
        XCTAssertFalse(page.body.contains(root.path), "no path of the daemon's machine on the page")
        XCTAssertEqual(page.body.components(separatedBy: "class=\"task-edge\"").count - 1, 2, "the version's lineage has the task-model edges too")
        // Export: downloads of the version's files through the session, the API's bytes.
        try daemon.ok(["export", "3", dir.appendingPathComponent("streamed").path, "--stream"])
        XCTAssertTrue(page.body.contains("<a class=\"download\" href=\"/ui/versions/3/files/model.safetensors\" download=\"model.safetensors\">"))
        XCTAssertTrue(page.body.contains("href=\"/ui/versions/3/files/config.json\""))
        let config = try http(port, "GET", "/ui/versions/3/files/config.json", cookie: session)
        XCTAssertEqual(config.status, 200)
        XCTAssertEqual(config.headers["content-disposition"], "attachment; filename=\"config.json\"")
        XCTAssertEqual(config.body, try String(contentsOf: dir.appendingPathComponent("streamed/config.json"), encoding: .utf8), "the API's config.json")
        XCTAssertEqual(try http(port, "GET", "/ui/versions/3/files/config.json").status, 401, "a download needs the session")
        let show = try daemon.json(["show", "3"])
        let layers = show["layer_weights"]?.arrayValue?.count ?? 0
        XCTAssertEqual(page.body.components(separatedBy: "class=\"cell\" data-row=\"layer ").count - 1, layers * 2, "one heatmap cell per (layer, input model)")
        let accuracy = try XCTUnwrap(try daemon.json(["history", "--eval"])["versions"]?.arrayValue?.last?["accuracy"]?["count"]?.doubleValue)
        XCTAssertTrue(page.body.contains(String(format: "%.1f%%", accuracy * 100)), "the page shows the API's accuracy")

        // Rollback from the page: refused without the form's CSRF token, done with it.
        XCTAssertEqual(try http(port, "POST", "/ui/versions/2/rollback", cookie: session, form: "csrf=forged").status, 403)
        XCTAssertEqual(try daemon.json(["status"])["head"]?.intValue, 3)
        let csrf = try XCTUnwrap(page.body.components(separatedBy: "name=\"csrf\" value=\"").dropFirst().first?.prefix { $0 != "\"" })
        let done = try http(port, "POST", "/ui/versions/2/rollback", cookie: session, form: "csrf=\(csrf)")
        XCTAssertEqual(done.status, 303, done.body)
        XCTAssertEqual(try daemon.json(["status"])["head"]?.intValue, 2, "head moved, as the API reports")
        // The rollback is an event of the lineage: a marker on version 2 and a line in the list.
        let after = try http(port, "GET", "/ui", cookie: session).body
        XCTAssertTrue(after.contains("class=\"rollback-marker\" role=\"img\" aria-label=\"head rolled back to version 2 once: from version 3 at "), "marker on version 2")
        XCTAssertTrue(after.contains("<li data-version=\"2\" data-from=\"3\">"), "the event list names the rollback")

        // Accuracy page: mean and BWT per version (BWT of version 3: colour now minus colour at version 2).
        let evaluations = try daemon.json(["history", "--eval"])
        let rows = evaluations["versions"]?.arrayValue ?? []
        let colour2 = try XCTUnwrap(rows.first { $0["version"]?.intValue == 2 }?["accuracy"]?["colour"]?.doubleValue)
        let colour3 = try XCTUnwrap(rows.first { $0["version"]?.intValue == 3 }?["accuracy"]?["colour"]?.doubleValue)
        let matrix = try http(port, "GET", "/ui/matrix", cookie: session).body
        let row3 = try XCTUnwrap(matrix.components(separatedBy: "<tr data-version=\"3\">").dropFirst().first?.components(separatedBy: "</tr>").first)
        XCTAssertTrue(row3.contains("<td>\(String(format: "%.3f", colour3 - colour2))</td><td>not gated</td>"), row3)
        XCTAssertTrue(matrix.contains("data-series=\"BWT\" data-x=\"v3\""), "BWT is a second line next to the mean")

        // Store page: sizes with decimals (the tiny models are KBs, not "0 MB").
        let store = try http(port, "GET", "/ui/store", cookie: session).body
        let model3 = try XCTUnwrap(try daemon.json(["show", "3"])["model"])
        let raw3 = try XCTUnwrap(model3["raw_bytes"]?.intValue)
        let unique3 = try XCTUnwrap(model3["unique_bytes"]?.intValue), stored3 = try XCTUnwrap(model3["stored_bytes"]?.intValue)
        XCTAssertGreaterThan(unique3, 0)
        let row = try XCTUnwrap(store.components(separatedBy: "<tr data-version=\"3\">").dropFirst().first?.components(separatedBy: "</tr>").first)
        XCTAssertEqual(row, "<td>3</td><td>recall + count</td>" + [raw3, unique3, stored3].map { "<td>\(String(format: "%.1f KB", Double($0) / 1e3))</td>" }.joined()
                       + "<td>\(String(format: "%.2f×", Double(raw3) / Double(unique3)))</td><td>\(String(format: "%.2f×", Double(unique3) / Double(stored3)))</td>",
                       "version 3's sizes in KB and its deduplication and compression ratios apart")
    }
}
