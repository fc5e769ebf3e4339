import Foundation

/// The lineage graph: versions left to right, edges parent -> child (solid), each task model
/// above the version it fed with a dashed edge task model -> merged version, and a marker on
/// every version head was rolled back to.
///
/// Screen readers: the SVG is a `group` (not an `img`, which would hide its links); every version
/// is a link or an element with an `aria-label` saying what it is, edges are decoration
/// (`aria-hidden`) since each node's label names its parent.
extension SVGCharts {
    /// A node of the lineage graph.
    public struct LineageNode {
        public var version: Int
        public var parent: Int?
        public var label: String
        public var detail: String
        public var head: Bool
        public var gated: Bool
        public var link: String?
        public init(version: Int, parent: Int?, label: String, detail: String, head: Bool, gated: Bool, link: String? = nil) {
            self.version = version
            self.parent = parent
            self.label = label
            self.detail = detail
            self.head = head
            self.gated = gated
            self.link = link
        }
    }

    /// A task model that a register merged in as the `new` input of `version`.
    public struct LineageTaskModel {
        public var modelID: Int
        public var version: Int
        public var name: String
        public var task: String?
        public init(modelID: Int, version: Int, name: String, task: String?) {
            self.modelID = modelID
            self.version = version
            self.name = name
            self.task = task
        }
    }

    /// Head moved back to `version` (from `from`) at `at`.
    public struct LineageRollback {
        public var version: Int
        public var from: Int?
        public var at: String
        public init(version: Int, from: Int?, at: String) {
            self.version = version
            self.from = from
            self.at = at
        }
    }

    /// A child sits on its parent's row unless it is not the parent's first child (a branch after
    /// a rollback drops to a new row). Task models take a row of their own above the versions.
    public static func lineage(_ nodes: [LineageNode], taskModels: [LineageTaskModel] = [], rollbacks: [LineageRollback] = [],
                               title: String, id: String) -> String {
        var row: [Int: Int] = [:], children: [Int: Int] = [:], rows = 1
        for n in nodes {
            if let p = n.parent, let pr = row[p] {
                let k = children[p, default: 0]
                children[p] = k + 1
                row[n.version] = k == 0 ? pr : rows
                if k > 0 { rows += 1 }
            } else {
                row[n.version] = 0
            }
        }
        let index = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.version, $0) })
        let drawnModels = taskModels.filter { index[$0.version] != nil }
        let dx = 90, dy = 70, left = 40
        // The task-model row (when there is one) sits above the versions' first row.
        let modelRow = drawnModels.isEmpty ? 0 : dy
        let top = 30 + modelRow
        let width = left * 2 + dx * max(nodes.count - 1, 0) + 60, height = top + 30 + dy * max(rows - 1, 0) + 40
        func pos(_ v: Int) -> (Int, Int) { (left + dx * index[v]!, top + dy * (row[v] ?? 0)) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(escape(id))\" class=\"lineage\" role=\"group\" aria-label=\"\(escape(title))\" "
            + "width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\"><title>\(escape(title))</title>"
        for n in nodes {
            guard let p = n.parent, index[p] != nil else { continue }
            let (x1, y1) = pos(p), (x2, y2) = pos(n.version)
            s += "<path class=\"edge\" aria-hidden=\"true\" data-from=\"\(p)\" data-to=\"\(n.version)\" d=\"M\(x1),\(y1) C\(x1 + dx / 2),\(y1) \(x2 - dx / 2),\(y2) \(x2),\(y2)\" fill=\"none\" stroke=\"currentColor\"/>"
        }
        for m in drawnModels {
            let (x, y) = pos(m.version)
            s += "<path class=\"task-edge\" aria-hidden=\"true\" data-model=\"\(m.modelID)\" data-to=\"\(m.version)\" d=\"M\(x),\(30 + 8) L\(x),\(y - 11)\" "
                + "fill=\"none\" stroke=\"currentColor\" stroke-dasharray=\"4 3\" opacity=\"0.7\"/>"
        }
        for m in drawnModels {
            let (x, _) = pos(m.version)
            let what = "task model \(m.name)\(m.task.map { " (task \($0))" } ?? "") merged into version \(m.version)"
            let short = m.name.count > 14 ? String(m.name.prefix(13)) + "…" : m.name
            s += "<g class=\"task-model\" role=\"img\" aria-label=\"\(escape(what))\" data-model=\"\(m.modelID)\" data-version=\"\(m.version)\"><title>\(escape(what))</title>"
                + "<rect x=\"\(x - 7)\" y=\"\(30 - 8)\" width=\"14\" height=\"14\" fill=\"none\" stroke=\"currentColor\"/>"
                + "<text class=\"label\" x=\"\(x)\" y=\"\(30 - 13)\" text-anchor=\"middle\" font-size=\"10\">\(escape(short))</text></g>"
        }
        for n in nodes {
            let (x, y) = pos(n.version)
            var node = "<g class=\"node\" data-version=\"\(n.version)\"\(n.head ? " data-head=\"true\"" : "")\(n.gated ? " data-gated=\"true\"" : "")"
            node += n.link == nil ? " role=\"img\" aria-label=\"\(escape(n.detail))\">" : ">"
            node += "<title>\(escape(n.detail))</title>"
            node += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"\(n.head ? 13 : 10)\" \(n.gated ? "class=\"page-bg\" fill=\"#ffffff\"" : "fill=\"\(colour(n.head ? 1 : 0.55))\"") stroke=\"currentColor\" stroke-width=\"\(n.head ? 3 : 1)\"\(n.gated ? " stroke-dasharray=\"3 2\"" : "")/>"
            // A gated node is an outline filled with the page's background (edges stop behind it): its
            // number takes the page's text colour, in light and dark.
            node += "<text x=\"\(x)\" y=\"\(y + 4)\" text-anchor=\"middle\" font-size=\"10\" class=\"\(n.gated ? "label" : n.head ? "on-dark" : "on-mid")\">\(n.version)</text>"
            node += "<text class=\"label\" x=\"\(x)\" y=\"\(y + 28)\" text-anchor=\"middle\" font-size=\"10\">\(escape(n.label))</text></g>"
            if let link = n.link { node = "<a href=\"\(escape(link))\" aria-label=\"\(escape(n.detail))\">" + node + "</a>" }
            s += node
        }
        var byTarget: [Int: [LineageRollback]] = [:]
        for r in rollbacks where index[r.version] != nil { byTarget[r.version, default: []].append(r) }
        for v in byTarget.keys.sorted() {
            let (x, y) = pos(v), events = byTarget[v]!
            let what = "head rolled back to version \(v) " + (events.count == 1 ? "once" : "\(events.count) times") + ": "
                + events.map { "\($0.from.map { "from version \($0)" } ?? "") at \($0.at)" }.joined(separator: "; ")
            s += "<g class=\"rollback-marker\" role=\"img\" aria-label=\"\(escape(what))\" data-version=\"\(v)\" data-count=\"\(events.count)\"><title>\(escape(what))</title>"
                + "<circle cx=\"\(x + 13)\" cy=\"\(y - 13)\" r=\"7\" class=\"page-bg\" fill=\"#ffffff\" stroke=\"currentColor\"/>"
                + "<text class=\"label\" x=\"\(x + 13)\" y=\"\(y - 9)\" text-anchor=\"middle\" font-size=\"10\">\(events.count == 1 ? "↺" : "\(events.count)")</text></g>"
        }
        return s + "</svg>"
    }
}
