import Foundation

/// Inline SVG charts for the registry's report (no script, no external asset): a heatmap and a
/// line chart here, the lineage graph in SVGCharts+Lineage. Every chart has a `<title>` and an
/// `aria-label`, every mark
/// a `<title>` with its value (the hover text), and colours come from one ramp whose lightness
/// falls monotonically, so a chart reads the same printed in greyscale.
public enum SVGCharts {
    /// Escapes text for XML content and attribute values.
    public static func escape(_ s: String) -> String {
        // Most text (numbers, task names, dates) has nothing to escape: one pass over the bytes.
        if !s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) { return s }
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A light-to-dark blue ramp (lightness 97% -> 25%) for t in [0, 1].
    public static func colour(_ t: Double) -> String {
        let x = min(max(t.isFinite ? t : 0, 0), 1)
        let stops: [(Double, Double, Double)] = [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)]
        let f = x * Double(stops.count - 1)
        let i = min(Int(f), stops.count - 2)
        let u = f - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    static func fmt(_ v: Double) -> String { String(format: "%.3f", v) }

    /// `values[row][column]` as coloured cells (nil: empty). `scale` maps a value to [0, 1].
    public static func heatmap(title: String, rows: [String], columns: [String], values: [[Double?]],
                               scale: ClosedRange<Double>, id: String) -> String {
        // Room for the rotated column names and the row names (about 6 px a character at 10 px).
        let cell = 22
        let top = 20 + Int(Double(min(columns.map(\.count).max() ?? 0, 40)) * 4.5)
        let left = 12 + 6 * min(rows.map(\.count).max() ?? 0, 30)
        let width = left + cell * max(columns.count, 1) + top, height = top + cell * max(rows.count, 1) + 10
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(escape(id))\" class=\"heatmap\" role=\"img\" aria-label=\"\(escape(title))\" "
            + "width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\"><title>\(escape(title))</title>"
        for (c, name) in columns.enumerated() {
            let x = left + c * cell + cell / 2
            s += "<text class=\"label\" x=\"\(x)\" y=\"\(top - 6)\" transform=\"rotate(-45 \(x) \(top - 6))\" font-size=\"10\">\(escape(name))</text>"
        }
        let span = scale.upperBound - scale.lowerBound
        for (r, name) in rows.enumerated() {
            let y = top + r * cell
            s += "<text class=\"label\" x=\"\(left - 4)\" y=\"\(y + 15)\" text-anchor=\"end\" font-size=\"10\">\(escape(name))</text>"
            for (c, value) in values[r].enumerated() {
                guard let value else { continue }
                let t = span > 0 ? (value - scale.lowerBound) / span : 0.5
                s += "<rect class=\"cell\" data-row=\"\(escape(name))\" data-column=\"\(escape(columns[c]))\" data-value=\"\(fmt(value))\" "
                    + "x=\"\(left + c * cell)\" y=\"\(y)\" width=\"\(cell - 1)\" height=\"\(cell - 1)\" fill=\"\(colour(t))\">"
                    + "<title>\(escape(name)), \(escape(columns[c])): \(fmt(value))</title></rect>"
            }
        }
        return s + "</svg>"
    }

    /// One or more series over the same x positions, as polylines with a point per value.
    public static func lines(title: String, xLabels: [String], series: [(name: String, values: [Double?])],
                             scale: ClosedRange<Double>, id: String) -> String {
        let width = 560, height = 220, left = 44, right = 12, top = 14, bottom = 30
        let n = max(xLabels.count, 2)
        func x(_ i: Int) -> Double { Double(left) + Double(i) * Double(width - left - right) / Double(n - 1) }
        func y(_ v: Double) -> Double {
            let span = scale.upperBound - scale.lowerBound
            let t = span > 0 ? (v - scale.lowerBound) / span : 0.5
            return Double(height - bottom) - t * Double(height - top - bottom)
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(escape(id))\" class=\"lines\" role=\"img\" aria-label=\"\(escape(title))\" "
            + "width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\"><title>\(escape(title))</title>"
        s += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"currentColor\"/>"
        for v in [scale.lowerBound, scale.upperBound] {
            s += "<text class=\"label\" x=\"\(left - 4)\" y=\"\(String(format: "%.1f", y(v) + 4))\" text-anchor=\"end\" font-size=\"10\">\(fmt(v))</text>"
        }
        let step = max(1, xLabels.count / 12)
        for (i, label) in xLabels.enumerated() where i % step == 0 {
            s += "<text class=\"label\" x=\"\(String(format: "%.1f", x(i)))\" y=\"\(height - 12)\" text-anchor=\"middle\" font-size=\"10\">\(escape(label))</text>"
        }
        let dashes = ["", "6 3", "2 2", "8 2 2 2"]
        for (k, line) in series.enumerated() {
            let points = line.values.enumerated().compactMap { i, v in v.map { String(format: "%.1f,%.1f", x(i), y($0)) } }
            s += "<polyline class=\"series\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" stroke-dasharray=\"\(dashes[k % dashes.count])\" points=\"\(points.joined(separator: " "))\"><title>\(escape(line.name))</title></polyline>"
            for (i, v) in line.values.enumerated() {
                guard let v else { continue }
                s += "<circle class=\"point\" data-series=\"\(escape(line.name))\" data-x=\"\(escape(xLabels[i]))\" data-value=\"\(fmt(v))\" "
                    + "cx=\"\(String(format: "%.1f", x(i)))\" cy=\"\(String(format: "%.1f", y(v)))\" r=\"3\" fill=\"currentColor\">"
                    + "<title>\(escape(line.name)) at \(escape(xLabels[i])): \(fmt(v))</title></circle>"
            }
        }
        return s + "</svg>"
    }
}
