import Foundation
import RecallTensor
import RecallService

/// The HTML of each web page, from the same JSON the API answers (so the numbers shown are the
/// API's). Layout and charts come from RecallCore/Report.
struct UIPages {
    let registry: Registry

    static let navigation = """
    <nav aria-label="Registry" style="margin:1rem auto;max-width:70rem;padding:0 1rem"><a href="/ui">Lineage</a> · \
    <a href="/ui/matrix">Accuracy</a> · <a href="/ui/jobs">Jobs</a> · <a href="/ui/store">Store</a></nav>
    """

    static func frame(_ title: String, _ body: String) -> String {
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
            + "<title>\(SVGCharts.escape(title)) - RecallRegistry</title><style>\(RegistryReport.style)</style></head><body>"
            + navigation + "<main><h1>\(SVGCharts.escape(title))</h1>" + body + "</main></body></html>\n"
    }

    func lineage() throws -> String {
        let history = try registry.historyJSON()
        let rows = history.arrayValue ?? []
        guard !rows.isEmpty else { return Self.frame("Lineage", "<p>The registry has no base yet: <code>recallctl init BASE_DIR</code>.</p>") }
        let nodes = rows.map { v -> SVGCharts.LineageNode in
            let n = v["version"]?.intValue ?? 0
            let task = v["task"]?.stringValue ?? "base"
            var detail = "version \(n): \(task), \(v["method"]?.stringValue ?? ""), \(v["created_at"]?.stringValue ?? "")"
            if let reason = v["gate_reason"]?.stringValue { detail += ", gated: \(reason)" }
            return SVGCharts.LineageNode(version: n, parent: v["parent"]?.intValue, label: task, detail: detail,
                                         head: v["head"]?.boolValue == true, gated: v["gated"]?.boolValue == true, link: "/ui/versions/\(n)")
        }
        var body = SVGCharts.lineage(nodes, title: "Every version; edges from parent to child", id: "lineage")
        body += "<table><thead><tr><th scope=\"col\">version</th><th scope=\"col\">task</th><th scope=\"col\">method</th><th scope=\"col\">created</th><th scope=\"col\">tags</th><th scope=\"col\">state</th></tr></thead><tbody>"
        for v in rows {
            let n = v["version"]?.intValue ?? 0
            let state = v["head"]?.boolValue == true ? "head" : v["gated"]?.boolValue == true ? "gated: \(v["gate_reason"]?.stringValue ?? "")" : ""
            body += "<tr><td><a href=\"/ui/versions/\(n)\">\(n)</a></td><td>\(SVGCharts.escape(v["task"]?.stringValue ?? "base"))</td>"
            body += "<td>\(SVGCharts.escape(v["method"]?.stringValue ?? ""))</td><td>\(SVGCharts.escape(v["created_at"]?.stringValue ?? ""))</td>"
            body += "<td>\(SVGCharts.escape((v["tags"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")))</td><td>\(SVGCharts.escape(state))</td></tr>"
        }
        return Self.frame("Lineage", body + "</tbody></table>")
    }

    func version(_ ref: String, csrf: String) throws -> String {
        let v = try registry.versionJSON(ref)
        let n = v["version"]?.intValue ?? 0
        var report = RegistryReport(history: try registry.historyJSON(), version: v, evaluations: try registry.evaluationsJSON())
        report.linked = true
        report.navigation = Self.navigation
        let token = SVGCharts.escape(csrf)
        report.actions = """
        <section aria-labelledby="h-actions"><h2 id="h-actions">Actions</h2>
        <form method="post" action="/ui/versions/\(n)/rollback" style="display:inline"><input type="hidden" name="csrf" value="\(token)">\
        <button type="submit">Roll head back to version \(n)</button></form>
        <form method="post" action="/ui/versions/\(n)/tag" style="display:inline;margin-left:1rem"><input type="hidden" name="csrf" value="\(token)">\
        <label>Tag <input name="name" required pattern="[A-Za-z0-9._-]+" aria-label="tag name"></label> <button type="submit">Tag version \(n)</button></form>
        <p class="muted">Export: <code>recallctl export \(n) OUT_DIR</code></p></section>
        """
        return report.html
    }

    func matrix() throws -> String {
        let evaluations = try registry.evaluationsJSON()
        var report = RegistryReport(history: try registry.historyJSON(), version: .object([("version", .int(Int.max))]), evaluations: evaluations)
        report.linked = true
        guard let chart = report.accuracyMatrix else {
            return Self.frame("Accuracy", "<p>No evaluations yet: register tasks with <code>--eval</code>.</p>")
        }
        return Self.frame("Accuracy by version and task", chart + (report.accuracyCurve ?? ""))
    }

    func storePage() throws -> String {
        let models = try registry.store.provenance.models()
        let status = try registry.statusJSON()
        let stored = status["store"]?["stored_bytes"]?.intValue ?? 0, logical = status["store"]?["logical_bytes"]?.intValue ?? 0
        var body = "<p>\(models.count) models, \(logical / 1_000_000) MB raw, \(stored / 1_000_000) MB stored: "
        body += String(format: "%.3f", logical > 0 ? Double(stored) / Double(logical) : 0) + " of raw after deduplication and compression.</p>"
        let versions = try registry.historyJSON().arrayValue ?? []
        let byID = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
        var cumulative = 0
        var series: [Double?] = []
        body += "<table><thead><tr><th scope=\"col\">version</th><th scope=\"col\">model</th><th scope=\"col\">raw MB</th><th scope=\"col\">new stored MB</th><th scope=\"col\">new / raw</th></tr></thead><tbody>"
        for v in versions {
            guard let m = v["model_id"]?.intValue.flatMap({ byID[$0] }) else { continue }
            cumulative += m.storedBytes
            series.append(Double(cumulative) / 1e6)
            body += "<tr><td>\(v["version"]?.intValue ?? 0)</td><td>\(SVGCharts.escape(m.name))</td><td>\(m.rawBytes / 1_000_000)</td><td>\(m.storedBytes / 1_000_000)</td>"
            body += "<td>" + String(format: "%.3f", m.rawBytes > 0 ? Double(m.storedBytes) / Double(m.rawBytes) : 0) + "</td></tr>"
        }
        body += "</tbody></table>"
        if series.count >= 2 {
            body += SVGCharts.lines(title: "Store size over versions (MB, merged models' new bytes)", xLabels: versions.map { "v\($0["version"]?.intValue ?? 0)" },
                                    series: [("stored MB", series)], scale: 0...max(1, (series.compactMap { $0 }.max() ?? 1)), id: "store-size")
        }
        return Self.frame("Store", body)
    }

    func jobs() throws -> String {
        let rows = try registry.store.provenance.jobs().prefix(50).map { registry.jobJSON($0, hidingPaths: true) }
        var body = "<p class=\"muted\">Updates live (server-sent events).</p><table id=\"jobs\"><thead><tr><th scope=\"col\">job</th><th scope=\"col\">state</th><th scope=\"col\">phase</th><th scope=\"col\">progress</th><th scope=\"col\">ETA</th><th scope=\"col\">error</th></tr></thead><tbody>"
        for j in rows { body += Self.jobRow(j) }
        body += "</tbody></table>"
        body += """
        <script>
        const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\\"":"&quot;","'":"&#39;"}[c]));
        const events = new EventSource("/ui/jobs/events");
        events.addEventListener("jobs", e => {
          const rows = JSON.parse(e.data).map(j => `<tr data-job="${j.id}"><td>${j.id}</td><td>${esc(j.state)}</td><td>${esc(j.phase)}</td>` +
            `<td>${Math.round((j.progress ?? 0) * 100)}%</td><td>${j.eta_seconds == null ? "" : Math.round(j.eta_seconds) + " s"}</td><td>${esc(j.error)}</td></tr>`);
          document.querySelector("#jobs tbody").innerHTML = rows.join("");
        });
        </script>
        """
        return Self.frame("Jobs", body)
    }

    static func jobRow(_ j: JSONValue) -> String {
        let e = SVGCharts.escape
        return "<tr data-job=\"\(j["id"]?.intValue ?? 0)\"><td>\(j["id"]?.intValue ?? 0)</td><td>\(e(j["state"]?.stringValue ?? ""))</td>"
            + "<td>\(e(j["phase"]?.stringValue ?? ""))</td><td>\(Int(((j["progress"]?.doubleValue ?? 0) * 100).rounded()))%</td>"
            + "<td>\(j["eta_seconds"]?.doubleValue.map { "\(Int($0)) s" } ?? "")</td><td>\(e(j["error"]?.stringValue ?? ""))</td></tr>"
    }

    static func loginPage(failed: Bool) -> String {
        frame("Log in", (failed ? "<p><strong>That token is not this registry's.</strong></p>" : "")
            + "<p>This registry's pages need its token. Open the login address the daemon printed when it started "
            + "(<code>/login?token=…</code>, the content of its <code>--token-file</code>).</p>")
    }

    static func errorPage(_ error: Error) -> String {
        frame("Error", "<p>\(SVGCharts.escape((error as? RecallError)?.message ?? "\(error)"))</p>")
    }
}
