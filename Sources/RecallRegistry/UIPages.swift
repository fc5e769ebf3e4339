import Foundation
import RecallTensor
import RecallService
import RecallAPI

/// The HTML of each web page, from the same reply types the API answers (so the numbers shown
/// are the API's). Layout and charts come from RecallCore/Report.
struct UIPages {
    let registry: Registry

    static let navigation = """
    <nav aria-label="Registry" style="margin:1rem auto;max-width:70rem;padding:0 1rem"><a href="/ui">Lineage</a> · \
    <a href="/ui/matrix">Accuracy</a> · <a href="/ui/jobs">Jobs</a> · <a href="/ui/store">Store</a></nav>
    """

    static func frame(_ title: String, _ body: String) -> String {
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\">"
            + "<title>\(SVGCharts.escape(title)) - RecallRegistry</title><style>\(RegistryReport.style)</style></head><body>"
            + navigation + "<main><h1>\(SVGCharts.escape(title))</h1>" + body + "</main></body></html>\n"
    }

    func lineage() throws -> String {
        let lineage = try registry.lineage()
        let rows = lineage.versions
        guard !rows.isEmpty else { return Self.frame("Lineage", "<p>The registry has no base yet: <code>recallctl init BASE_DIR</code>.</p>") }
        let nodes = rows.map { v -> SVGCharts.LineageNode in
            let n = v.version
            let task = v.task ?? "base"
            var detail = "version \(n): \(task), \(v.method), \(v.createdAt)"
            if let parent = v.parent { detail += ", child of version \(parent)" }
            if !v.tags.isEmpty { detail += ", tags \(v.tags.joined(separator: ", "))" }
            if v.head { detail += ", head" }
            if let reason = v.gateReason { detail += ", gated: \(reason)" }
            return SVGCharts.LineageNode(version: n, parent: v.parent, label: task, detail: detail, head: v.head, gated: v.gated,
                                         link: "/ui/versions/\(n)")
        }
        let (taskModels, rollbacks) = (lineage.taskModels, lineage.rollbacks)
        var body = Self.panZoom(SVGCharts.lineage(nodes, taskModels: taskModels, rollbacks: rollbacks,
                                                  title: "Every version: solid edges parent to child, dashed edges task model to the version it was merged into, ↺ where head was rolled back to",
                                                  id: "lineage"))
        body += "<h2 id=\"h-events\">Rollbacks</h2>"
        if rollbacks.isEmpty {
            body += "<p class=\"muted\" id=\"rollbacks\">Head has never been rolled back.</p>"
        } else {
            body += "<ol id=\"rollbacks\" aria-labelledby=\"h-events\">"
            for r in rollbacks {
                body += "<li data-version=\"\(r.version)\" data-from=\"\(r.from.map(String.init) ?? "")\">\(SVGCharts.escape(r.at)): head rolled back "
                    + (r.from.map { "from <a href=\"/ui/versions/\($0)\">version \($0)</a> " } ?? "")
                    + "to <a href=\"/ui/versions/\(r.version)\">version \(r.version)</a></li>"
            }
            body += "</ol>"
        }
        body += "<h2>Versions</h2>"
        body += "<table><thead><tr><th scope=\"col\">version</th><th scope=\"col\">task</th><th scope=\"col\">method</th><th scope=\"col\">created</th><th scope=\"col\">tags</th><th scope=\"col\">state</th></tr></thead><tbody>"
        for v in rows {
            let n = v.version
            // A gated version head was rolled back to is both.
            let state = ((v.head ? ["head"] : []) + (v.gated ? ["gated: \(v.gateReason ?? "")"] : [])).joined(separator: "; ")
            body += "<tr><td><a href=\"/ui/versions/\(n)\">\(n)</a></td><td>\(SVGCharts.escape(v.task ?? "base"))</td>"
            body += "<td>\(SVGCharts.escape(v.method))</td><td>\(SVGCharts.escape(v.createdAt))</td>"
            body += "<td>\(SVGCharts.escape(v.tags.joined(separator: ", ")))</td><td>\(SVGCharts.escape(state))</td></tr>"
        }
        return Self.frame("Lineage", body + "</tbody></table>")
    }

    /// The lineage graph in a pan/zoom viewport. Without script it is the static SVG at full size
    /// in a scrolling box; the script turns the box into a viewport on the SVG's viewBox: + and -
    /// zoom, arrow keys pan, 0 fits everything, Home/End go to the first/last version, the wheel
    /// zooms at the pointer, dragging pans, and a node link that gets keyboard focus is brought
    /// into view. It starts at full size around head.
    static func panZoom(_ svg: String) -> String {
        """
        <p class="muted" id="lineage-help">Keyboard: focus the graph, then <kbd>+</kbd>/<kbd>-</kbd> zoom, arrow keys pan, \
        <kbd>0</kbd> fits the whole lineage, <kbd>Home</kbd>/<kbd>End</kbd> go to the first/last version; Tab walks the versions.</p>
        <div class="zoom-controls" hidden><button type="button" data-zoom="in" aria-label="Zoom in">+</button> \
        <button type="button" data-zoom="out" aria-label="Zoom out">-</button> <button type="button" data-zoom="fit">Fit</button> \
        <button type="button" data-zoom="head">Head</button> <span class="muted" id="lineage-scale" aria-live="polite"></span></div>
        <div id="lineage-view" class="pan" tabindex="0" role="group" aria-label="Lineage graph (pan and zoom)" aria-describedby="lineage-help" \
        style="overflow:auto;max-height:34rem;border:1px solid var(--rule);touch-action:none">\(svg)</div>
        <style>.pan svg { max-width: none; height: auto; display: block; } .pan:focus { outline: 2px solid currentColor; } .pan.grab { cursor: grabbing; }</style>
        <script>\(panZoomScript)</script>
        """
    }

    static let panZoomScript = """
    (() => {
      const box = document.getElementById("lineage-view"), svg = box && box.querySelector("svg");
      if (!svg || !svg.viewBox || !svg.viewBox.baseVal) return;
      const W = svg.viewBox.baseVal.width, H = svg.viewBox.baseVal.height;
      const controls = document.querySelector(".zoom-controls"), label = document.getElementById("lineage-scale");
      controls.hidden = false;
      box.style.overflow = "hidden";
      let pw = 0, ph = 0, s = 1, x = 0, y = 0;
      const size = () => { pw = Math.max(200, box.clientWidth); ph = Math.min(Math.max(H, 160), 520); svg.setAttribute("width", pw); svg.setAttribute("height", ph); };
      const minScale = () => Math.min(1, pw / W, ph / H);
      const clamp = () => {
        s = Math.min(4, Math.max(minScale(), s));
        const vw = pw / s, vh = ph / s;
        x = vw >= W ? (W - vw) / 2 : Math.min(Math.max(x, 0), W - vw);
        y = vh >= H ? (H - vh) / 2 : Math.min(Math.max(y, 0), H - vh);
      };
      const draw = () => {
        clamp();
        svg.setAttribute("viewBox", `${x.toFixed(1)} ${y.toFixed(1)} ${(pw / s).toFixed(1)} ${(ph / s).toFixed(1)}`);
        box.dataset.scale = s.toFixed(3);
        label.textContent = `${Math.round(s * 100)}%`;
      };
      const zoomAt = (f, cx, cy) => { const old = s; s = Math.min(4, Math.max(minScale(), s * f)); x += cx / old - cx / s; y += cy / old - cy / s; draw(); };
      const centre = (nx, ny) => { x = nx - pw / s / 2; y = ny - ph / s / 2; draw(); };
      const nodeAt = el => { const c = el && el.querySelector("circle"); return c ? [+c.getAttribute("cx"), +c.getAttribute("cy")] : null; };
      const toHead = () => { s = 1; const p = nodeAt(svg.querySelector("g.node[data-head]")) || [W, 0]; centre(p[0], p[1]); };
      const act = what => {
        if (what === "in") zoomAt(1.25, pw / 2, ph / 2);
        else if (what === "out") zoomAt(0.8, pw / 2, ph / 2);
        else if (what === "fit") { s = minScale(); draw(); }
        else if (what === "head") toHead();
      };
      controls.addEventListener("click", e => { const b = e.target.closest("button"); if (b) { act(b.dataset.zoom); box.focus(); } });
      box.addEventListener("keydown", e => {
        const step = 0.15, k = e.key;
        if (e.ctrlKey || e.metaKey || e.altKey) return;
        if (k === "+" || k === "=") act("in");
        else if (k === "-" || k === "_") act("out");
        else if (k === "0") act("fit");
        else if (k === "ArrowLeft") { x -= pw / s * step; draw(); }
        else if (k === "ArrowRight") { x += pw / s * step; draw(); }
        else if (k === "ArrowUp") { y -= ph / s * step; draw(); }
        else if (k === "ArrowDown") { y += ph / s * step; draw(); }
        else if (k === "Home") { x = 0; draw(); }
        else if (k === "End") { x = W; draw(); }
        else return;
        e.preventDefault();
      });
      box.addEventListener("wheel", e => {
        e.preventDefault();
        const r = svg.getBoundingClientRect();
        zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
      }, { passive: false });
      let drag = null, moved = false;
      box.addEventListener("pointerdown", e => { if (e.button === 0) { drag = [e.clientX, e.clientY, x, y]; moved = false; } });
      box.addEventListener("pointermove", e => {
        if (!drag) return;
        const dx = e.clientX - drag[0], dy = e.clientY - drag[1];
        if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
        if (!moved) { moved = true; box.setPointerCapture(e.pointerId); box.classList.add("grab"); }
        x = drag[2] - dx / s; y = drag[3] - dy / s; draw();
      });
      const end = () => { drag = null; box.classList.remove("grab"); };
      box.addEventListener("pointerup", end);
      box.addEventListener("pointercancel", end);
      box.addEventListener("click", e => { if (moved) { e.preventDefault(); moved = false; } }, true);
      box.addEventListener("focusin", e => {
        const p = e.target !== box && nodeAt(e.target.closest("a"));
        if (!p) return;
        const vw = pw / s, vh = ph / s;
        if (p[0] < x + 20 || p[0] > x + vw - 20 || p[1] < y + 20 || p[1] > y + vh - 20) centre(p[0], p[1]);
      });
      window.addEventListener("resize", () => { size(); draw(); });
      size();
      toHead();
    })();
    """

    func version(_ ref: String, csrf: String) throws -> String {
        let v = try registry.versionDetail(ref)
        let n = v.version
        let lineage = try registry.lineage()
        var report = RegistryReport(history: lineage.versions, version: v, evaluations: try registry.evaluations())
        report.linked = true
        report.navigation = Self.navigation
        (report.taskModels, report.rollbacks) = (lineage.taskModels, lineage.rollbacks)
        let token = SVGCharts.escape(csrf)
        report.actions = """
        <section aria-labelledby="h-actions"><h2 id="h-actions">Actions</h2>
        <form method="post" action="/ui/versions/\(n)/rollback" style="display:inline"><input type="hidden" name="csrf" value="\(token)">\
        <button type="submit">Roll head back to version \(n)</button></form>
        <form method="post" action="/ui/versions/\(n)/tag" style="display:inline;margin-left:1rem"><input type="hidden" name="csrf" value="\(token)">\
        <label>Tag <input name="name" required pattern="[A-Za-z0-9._\\-]+" aria-label="tag name"></label> <button type="submit">Tag version \(n)</button></form>
        </section>
        """
        report.actions += try exportAndReproduce(v)
        return report.html
    }

    /// Export as downloads (the version's files through the page's session, the same bytes as
    /// `GET /v1/versions/{n}/files/{name}`; never a path on the daemon's machine) and the
    /// `recallctl` commands that reproduce the merge.
    func exportAndReproduce(_ v: VersionDetailReply) throws -> String {
        let e = SVGCharts.escape
        let n = v.version
        let files = try registry.exportFileNames(version: String(n))
        var h = "<section aria-labelledby=\"h-export\"><h2 id=\"h-export\">Export</h2><p>Download this version's files (an HF directory):</p><ul id=\"export-files\">"
        for name in files {
            h += "<li><a class=\"download\" href=\"/ui/versions/\(n)/files/\(e(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#%"))) ?? name))\" download=\"\(e(name))\">\(e(name))</a></li>"
        }
        h += "</ul><p class=\"muted\">Or from a shell: <code>recallctl export \(n) OUT_DIR</code> (with <code>--url</code> it downloads the same files).</p></section>"
        let settings = try registry.recordedSettings().map(SettingsReply.init)
        let command = ReproduceCommand(version: v, settings: settings, request: try registry.registerRequest(of: n))
        h += "<section aria-labelledby=\"h-reproduce\"><h2 id=\"h-reproduce\">Reproduce this merge</h2>"
        h += "<p>On a new registry (<code>--home</code> of your choice), the commands that made version \(n)" + (command.lines.count > 1 ? ", after the versions before it" : "") + ":</p>"
        h += "<pre id=\"reproduce\"><code>\(e(command.lines.joined(separator: "\n")))</code></pre>"
        h += "<p id=\"reproduce-files\">" + command.files.map { "<code>\(e($0))</code>" }.joined(separator: ", ")
            + " name files you must supply: the registry records the model and the samples' content, not where they were on disk.</p></section>"
        return h
    }

    func matrix() throws -> String {
        var report = RegistryReport(history: try registry.history(), version: nil, evaluations: try registry.evaluations())
        report.linked = true
        guard let chart = report.accuracyMatrix else {
            return Self.frame("Accuracy", "<p>No evaluations yet: register tasks with <code>--eval</code>.</p>")
        }
        return Self.frame("Accuracy by version and task", chart + (report.accuracyCurve ?? "") + (report.accuracySummary ?? "") + (report.accuracyTable ?? ""))
    }

    /// Bytes for people: KB under a megabyte, MB above, with decimals (the tiny fixtures' models
    /// are tens of KB, which whole megabytes showed as 0). Decimal units, as `du --si`.
    static func size(_ bytes: Int) -> String {
        bytes < 1_000_000 ? String(format: "%.1f KB", Double(bytes) / 1e3) : String(format: "%.2f MB", Double(bytes) / 1e6)
    }

    /// A ratio as a factor ("2.50×"), or "-" when the denominator is unknown or 0.
    static func ratio(_ num: Int?, _ den: Int?) -> String {
        guard let num, let den, den > 0 else { return "-" }
        return String(format: "%.2f×", Double(num) / Double(den))
    }

    /// Per version, the merged model's raw bytes, the bytes left after deduplication (unique: the
    /// chunks it added) and after compression (stored), with the two ratios apart: deduplication
    /// = raw / unique, compression = unique / stored.
    func storePage() throws -> String {
        let models = try registry.storedModels()
        let store = try registry.status().store
        let stored = store.storedBytes, logical = store.logicalBytes
        var body = "<p id=\"store-totals\">\(models.count) models, \(Self.size(logical)) raw, \(Self.size(stored)) stored: "
        body += String(format: "%.3f", logical > 0 ? Double(stored) / Double(logical) : 0) + " of raw after deduplication and compression"
        // The split needs every model's unique bytes (null when one was stored before they were recorded).
        if let unique = store.uniqueBytes {
            body += "; deduplication \(Self.ratio(logical, unique)), compression \(Self.ratio(unique, stored))"
        }
        body += ".</p>"
        let versions = try registry.history()
        let byID = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
        var cumulative = 0
        var series: [Double?] = []
        body += "<table id=\"store-versions\"><thead><tr><th scope=\"col\">version</th><th scope=\"col\">model</th><th scope=\"col\">raw</th>"
            + "<th scope=\"col\">new after dedup</th><th scope=\"col\">new stored</th><th scope=\"col\">dedup ratio</th><th scope=\"col\">compression ratio</th></tr></thead><tbody>"
        for v in versions {
            guard let m = byID[v.modelID] else { continue }
            cumulative += m.storedBytes
            series.append(Double(cumulative) / 1e3)
            body += "<tr data-version=\"\(v.version)\">"
            body += "<td>\(v.version)</td><td>\(SVGCharts.escape(m.name))</td><td>\(Self.size(m.rawBytes))</td>"
            body += "<td>\(m.uniqueBytes.map(Self.size) ?? "-")</td><td>\(Self.size(m.storedBytes))</td>"
            body += "<td>\(Self.ratio(m.rawBytes, m.uniqueBytes))</td><td>\(Self.ratio(m.uniqueBytes, m.storedBytes))</td></tr>"
        }
        body += "</tbody></table><p class=\"muted\">Sizes in decimal units (1 KB = 1000 bytes). A dedup ratio of - means every chunk was already stored.</p>"
        if series.count >= 2 {
            body += SVGCharts.lines(title: "Store size over versions (KB, merged models' new bytes)", xLabels: versions.map { "v\($0.version)" },
                                    series: [("stored KB", series)], scale: 0...max(1, (series.compactMap { $0 }.max() ?? 1)), id: "store-size")
        }
        return Self.frame("Store", body)
    }

    func jobs() throws -> String {
        let rows = try registry.jobs().prefix(50).map { registry.jobReply($0, hidingPaths: true) }
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

    static func jobRow(_ j: JobReply) -> String {
        let e = SVGCharts.escape
        return "<tr data-job=\"\(j.id)\"><td>\(j.id)</td><td>\(e(j.state))</td>"
            + "<td>\(e(j.phase ?? ""))</td><td>\(Int((j.progress * 100).rounded()))%</td>"
            + "<td>\(j.etaSeconds.map { "\(Int($0)) s" } ?? "")</td><td>\(e(j.error ?? ""))</td></tr>"
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
