import Foundation
import RecallAPI

/// One self-contained HTML page about a version, rendered from the API's own replies (so a remote
/// client renders exactly what the daemon serves): the lineage up to that version, its inputs,
/// the per-layer weight heatmap (layers x input models) and similarity curve, its typical
/// samples, and the accuracy matrix (versions x tasks) with mean accuracy over versions.
/// Inline CSS and SVG only: no script, no external asset, light and dark colour schemes.
public struct RegistryReport {
    public let history: [VersionSummaryReply]
    /// Nil for no one version (the accuracy page): every version counts.
    public let version: VersionDetailReply?
    public let evaluations: EvaluationsReply
    /// Served by the daemon: lineage nodes link to `/ui/versions/N`, and `navigation` and
    /// `actions` (HTML) are placed above and below the content. Empty for the offline file.
    public var linked = false
    public var navigation = ""
    public var actions = ""
    /// Drawn on the lineage when the caller knows them (the daemon's pages: Registry.lineage);
    /// the offline report, built from the public API's JSON, leaves them empty.
    public var taskModels: [SVGCharts.LineageTaskModel] = []
    public var rollbacks: [SVGCharts.LineageRollback] = []

    public init(history: [VersionSummaryReply], version: VersionDetailReply?, evaluations: EvaluationsReply) {
        self.history = history
        self.version = version
        self.evaluations = evaluations
    }

    var number: Int { version?.version ?? Int.max }

    /// The charts by file name (`--svg DIR` writes them alone).
    public var charts: [(name: String, svg: String)] {
        var out = [("lineage.svg", lineage)]
        if let h = weightsHeatmap { out.append(("layer-weights.svg", h)) }
        if let s = similarityCurve { out.append(("similarity.svg", s)) }
        if let m = accuracyMatrix { out.append(("accuracy-matrix.svg", m)) }
        if let c = accuracyCurve { out.append(("accuracy-mean.svg", c)) }
        return out
    }

    /// Versions up to this one (its ancestors and everything numbered before it).
    var lineage: String {
        let rows = history.filter { $0.version <= number }
        let nodes = rows.map { v -> SVGCharts.LineageNode in
            let n = v.version
            let task = v.task ?? "base"
            var detail = "version \(n): \(task), \(v.method), \(v.createdAt)"
            if !v.tags.isEmpty { detail += ", tags \(v.tags.joined(separator: ", "))" }
            if v.head { detail += ", head" }
            if let reason = v.gateReason { detail += ", gated: \(reason)" }
            return SVGCharts.LineageNode(version: n, parent: v.parent, label: task, detail: detail, head: v.head, gated: v.gated,
                                         link: linked ? "/ui/versions/\(n)" : nil)
        }
        return SVGCharts.lineage(nodes, taskModels: taskModels, rollbacks: rollbacks, title: "Lineage up to version \(number)", id: "lineage")
    }

    /// Input models of the version in the order of its inputs (the base has no weight row).
    var weightedInputs: [(id: String, name: String)] {
        guard let version else { return [] }
        return version.inputs.compactMap { i in
            guard i.role != "base" else { return nil }
            let id = String(i.modelID)
            return (id, (version.modelNames[id] ?? "model \(i.modelID)") + (i.task.map { " (\($0))" } ?? ""))
        }
    }

    var layers: [VersionDetailReply.LayerWeights] { version?.layerWeights ?? [] }

    var weightsHeatmap: String? {
        let inputs = weightedInputs
        guard !layers.isEmpty, !inputs.isEmpty else { return nil }
        let values = layers.map { row in inputs.map { row.weights[$0.id] } }
        return SVGCharts.heatmap(title: "Per-layer weight of each input model, version \(number)",
                                 rows: layers.map { "layer \($0.layer)" }, columns: inputs.map(\.name),
                                 values: values, scale: 0...1, id: "layer-weights")
    }

    /// The heatmap's numbers for a screen reader (the chart is one image to it): a table that is
    /// visually hidden but read, one row per layer, one column per weighted input.
    var weightsTable: String? {
        let inputs = weightedInputs
        guard !layers.isEmpty, !inputs.isEmpty else { return nil }
        let e = SVGCharts.escape
        var t = "<table class=\"visually-hidden\" id=\"layer-weights-table\"><caption>Per-layer weight of each input model, version \(number)</caption>"
        t += "<thead><tr><th scope=\"col\">layer</th>" + inputs.map { "<th scope=\"col\">\(e($0.name))</th>" }.joined() + "</tr></thead><tbody>"
        for row in layers {
            t += "<tr><th scope=\"row\">layer \(row.layer)</th>"
            t += inputs.map { i in "<td>\(row.weights[i.id].map(SVGCharts.fmt) ?? "-")</td>" }.joined() + "</tr>"
        }
        return t + "</tbody></table>"
    }

    var similarityCurve: String? {
        let rows = version?.similarities ?? []
        guard !rows.isEmpty else { return nil }
        return SVGCharts.lines(title: "Similarity between input models per layer (mean, min, max), version \(number)",
                               xLabels: rows.map { String($0.layer) },
                               series: [("mean", rows.map { $0.mean as Double? }), ("min", rows.map { $0.min as Double? }), ("max", rows.map { $0.max as Double? })],
                               scale: 0...1, id: "similarity")
    }

    var tasks: [String] { evaluations.tasks }
    var evaluated: [EvaluationsReply.Row] { evaluations.versions.filter { $0.version <= number } }

    public var accuracyMatrix: String? {
        guard !tasks.isEmpty, !evaluated.isEmpty else { return nil }
        return SVGCharts.heatmap(title: "Accuracy by version and task (\(evaluations.metric))",
                                 rows: evaluated.map { "v\($0.version)" }, columns: tasks,
                                 values: evaluated.map { v in tasks.map { v.accuracy[$0] } },
                                 scale: 0...1, id: "accuracy-matrix")
    }

    /// Mean accuracy over the tasks each evaluated version was scored on.
    var means: [Double?] {
        evaluated.map { v in
            let values = tasks.compactMap { v.accuracy[$0] }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
    }

    /// Mean accuracy and backward transfer (BWT, BackwardTransfer) over the evaluated versions.
    public var accuracyCurve: String? {
        guard !tasks.isEmpty, evaluated.count >= 2 else { return nil }
        let bwt = BackwardTransfer.byVersion(evaluations)
        let bwtSeries: [Double?] = evaluated.map { bwt[$0.version] }
        // BWT is negative when tasks are forgotten: the axis goes below 0 as far as it needs to.
        let low = min(0, ((bwtSeries.compactMap { $0 }.min() ?? 0) * 10).rounded(.down) / 10)
        var series: [(name: String, values: [Double?])] = [("mean accuracy", means)]
        if bwtSeries.contains(where: { $0 != nil }) { series.append(("BWT", bwtSeries)) }
        return SVGCharts.lines(title: "Mean accuracy over the tasks each version was evaluated on, and backward transfer (BWT)",
                               xLabels: evaluated.map { "v\($0.version)" }, series: series,
                               scale: low...1, id: "accuracy-mean")
    }

    /// The accuracy matrix's figures as a table (the heatmap is one image to a screen reader).
    public var accuracyTable: String? {
        guard !tasks.isEmpty, !evaluated.isEmpty else { return nil }
        let e = SVGCharts.escape
        var t = "<table id=\"accuracy-table\"><caption class=\"muted\">The same figures as a table</caption><thead><tr><th scope=\"col\">version</th>"
        t += tasks.map { "<th scope=\"col\">\(e($0))</th>" }.joined() + "</tr></thead><tbody>"
        for v in evaluated {
            t += "<tr><th scope=\"row\">\(v.version)\(v.gated ? " (gated)" : "")</th>"
            t += tasks.map { task in "<td>\(v.accuracy[task].map { String(format: "%.1f%%", $0 * 100) } ?? "-")</td>" }.joined() + "</tr>"
        }
        return t + "</tbody></table>"
    }

    /// Per evaluated version: mean accuracy, BWT and the gate's decision (gated with its reason).
    public var accuracySummary: String? {
        guard !tasks.isEmpty, !evaluated.isEmpty else { return nil }
        let e = SVGCharts.escape
        let bwt = BackwardTransfer.byVersion(evaluations)
        let reasons = Dictionary(history.map { ($0.version, $0.gateReason) }, uniquingKeysWith: { a, _ in a })
        var t = "<table id=\"accuracy-summary\"><caption class=\"muted\">Mean accuracy, backward transfer (mean over the tasks seen before the last of "
            + "accuracy now minus accuracy right after the task was added) and the merge gate's decision</caption><thead><tr>"
            + "<th scope=\"col\">version</th><th scope=\"col\">task added</th><th scope=\"col\">mean</th><th scope=\"col\">BWT</th><th scope=\"col\">gate</th></tr></thead><tbody>"
        for (v, mean) in zip(evaluated, means) {
            let n = v.version
            let gated = v.gated
            t += "<tr data-version=\"\(n)\"\(gated ? " data-gated=\"true\"" : "")><th scope=\"row\">v\(n)</th><td>\(e(v.task ?? "-"))</td>"
            t += "<td>\(mean.map(SVGCharts.fmt) ?? "-")</td><td>\(bwt[n].map(SVGCharts.fmt) ?? "-")</td>"
            t += "<td>\(gated ? "<strong>gated</strong>: " + e(reasons[n].flatMap { $0 } ?? "") : "not gated")</td></tr>"
        }
        return t + "</tbody></table>"
    }

    public static let style = """
    :root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a; --rule: #d0d7de; }
    @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --rule: #30363d; } }
    body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
    h1, h2 { font-weight: 600; } h2 { border-bottom: 1px solid var(--rule); padding-bottom: .2rem; margin-top: 2rem; }
    table { border-collapse: collapse; } td, th { border: 1px solid var(--rule); padding: .2rem .5rem; text-align: left; }
    svg { color: var(--fg); max-width: 100%; height: auto; } svg .label { fill: var(--fg); }
    svg .on-dark { fill: #ffffff; } svg .on-mid { fill: #0d1117; } svg .page-bg { fill: var(--bg); }
    .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
    .muted { color: var(--muted); } code { font-size: 90%; }
    """

    public var html: String {
        let e = SVGCharts.escape
        let task = version?.task ?? "base"
        var h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\">"
        h += "<title>Version \(number) (\(e(task))) - RecallRegistry report</title><style>\(Self.style)</style></head><body>\(navigation)<main>"
        h += "<h1>Version \(number): \(e(task))</h1><p class=\"muted\">\(e(version?.message ?? "")) · method \(e(version?.method ?? "")) · "
        h += "\(e(version?.createdAt ?? ""))\(version?.head == true ? " · head" : "")</p>"
        if version?.gated == true { h += "<p><strong>Gated:</strong> \(e(version?.gateReason ?? ""))</p>" }
        h += actions
        h += "<section aria-labelledby=\"h-lineage\"><h2 id=\"h-lineage\">Lineage</h2>\(lineage)</section>"
        h += "<section aria-labelledby=\"h-inputs\"><h2 id=\"h-inputs\">Inputs</h2><table><thead><tr><th scope=\"col\">model</th><th scope=\"col\">role</th><th scope=\"col\">task</th><th scope=\"col\">content hash</th></tr></thead><tbody>"
        for i in version?.inputs ?? [] {
            h += "<tr><td>\(e(i.name))</td><td>\(e(i.role))</td><td>\(e(i.task ?? "-"))</td><td><code>\(e(String(i.contentHash.prefix(12))))</code></td></tr>"
        }
        h += "</tbody></table></section>"
        if let heat = weightsHeatmap {
            h += "<section aria-labelledby=\"h-weights\"><h2 id=\"h-weights\">Per-layer weights</h2><p class=\"muted\">Darker is a larger weight; hover a cell for its value.</p>\(heat)\(weightsTable ?? "")</section>"
        }
        if let curve = similarityCurve {
            h += "<section aria-labelledby=\"h-sim\"><h2 id=\"h-sim\">Layer similarity</h2>\(curve)</section>"
        }
        let typical = version?.typicalSamples ?? []
        if !typical.isEmpty {
            h += "<section aria-labelledby=\"h-typical\"><h2 id=\"h-typical\">Typical samples of \(e(task))</h2><ol>"
            for t in typical { h += "<li>\(e(t.text)) <span class=\"muted\">(cluster of \(t.clusterSize))</span></li>" }
            h += "</ol></section>"
        }
        if let matrix = accuracyMatrix {
            h += "<section aria-labelledby=\"h-acc\"><h2 id=\"h-acc\">Accuracy by version</h2>\(matrix)\(accuracyCurve ?? "")\(accuracySummary ?? "")"
            h += (accuracyTable ?? "") + "</section>"
        }
        h += "<section aria-labelledby=\"h-repro\"><h2 id=\"h-repro\">Get this version</h2><pre><code>recallctl export \(number) OUT_DIR\nrecallctl rollback \(number)</code></pre></section>"
        return h + "</main></body></html>\n"
    }
}
