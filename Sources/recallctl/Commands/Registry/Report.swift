import ArgumentParser
import Foundation
import RecallService
import RecallAPI

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page about a version: lineage, per-layer weight heatmap, similarity, accuracy matrix.",
        discussion: """
        Rendered on this machine from the daemon's JSON (so it works over --url too); no script and no external \
        asset, to attach to a pull request or a model card. --svg DIR also writes each chart as its own SVG file.
        """
    )

    @Argument(help: "Version number, tag or head.")
    var version: String

    @Option(help: "The HTML file to write.")
    var out: String

    @Option(help: "Also write each chart as an SVG file into this directory.")
    var svg: String?

    @Flag(help: "Overwrite OUT if it exists.")
    var force = false

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: force)
            let client = try daemon.client()
            let report = RegistryReport(history: try client.call("GET", "/v1/versions", as: [VersionSummaryReply].self).reply,
                                        version: try client.call("GET", "/v1/versions/\(pathSegment(version))", as: VersionDetailReply.self).reply,
                                        evaluations: try client.call("GET", "/v1/evaluations", as: EvaluationsReply.self).reply)
            try Data(report.html.utf8).write(to: outURL, options: .atomic)
            var written = [outURL.path]
            if let svg {
                let dir = URL(fileURLWithPath: svg)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for chart in report.charts {
                    let url = dir.appendingPathComponent(chart.name)
                    try Data(("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + chart.svg + "\n").utf8).write(to: url, options: .atomic)
                    written.append(url.path)
                }
            }
            if daemon.json { printJSON(.array(written.map { .string($0) })) } else { written.forEach { print("wrote \($0)") } }
        }
    }
}
