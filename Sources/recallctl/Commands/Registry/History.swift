import ArgumentParser
import Foundation
import RecallAPI

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every version: parent, task, method, time; * marks head.")

    @Flag(help: "Show the accuracy matrix (versions x tasks) instead.")
    var eval = false

    @Option(help: "With --eval: accuracy or accuracy_norm (default: the registry's eval metric).")
    var metric: String?

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            if eval { return try printAccuracyMatrix(try daemon.client(), metric: metric, json: daemon.json) }
            let (versions, json) = try daemon.client().call("GET", "/v1/versions", as: [VersionSummaryReply].self)
            if daemon.json { return printJSON(json) }
            let rows = versions.map { v -> [String] in
                var flags: [String] = []
                if v.gated { flags.append("gated: \(v.gateReason ?? "")") }
                if !v.tags.isEmpty { flags.append("tags: " + v.tags.joined(separator: ",")) }
                return [(v.head ? "* " : "  ") + String(v.version), v.parent.map(String.init) ?? "-", v.task ?? "-", v.method,
                        String(v.createdAt.prefix(19)).replacingOccurrences(of: "T", with: " "), flags.joined(separator: "; ")]
            }
            printTable(["  VERSION", "PARENT", "TASK", "METHOD", "CREATED (UTC)", ""], rows)
        }
    }
}

/// Left-aligned columns separated by two spaces.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
    for row in all {
        var line = row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        while line.last == " " { line.removeLast() }
        print(line)
    }
}

/// `history --eval`: one row per evaluated version, one column per task, in percent.
func printAccuracyMatrix(_ client: DaemonClient, metric: String?, json: Bool) throws {
    let (m, raw) = try client.call("GET", "/v1/evaluations" + (metric.map { "?metric=\(pathSegment($0))" } ?? ""), as: EvaluationsReply.self)
    if json { return printJSON(raw) }
    let tasks = m.tasks
    guard !tasks.isEmpty else { print("no evaluations yet: register tasks with --eval FILE.jsonl"); return }
    print("\(m.metric) (%) by version; * head, ! gated")
    printTable(["  VERSION", "TASK"] + tasks + ["MEAN"], m.versions.map { v in
        let values = tasks.map { v.accuracy[$0] }
        let present = values.compactMap { $0 }
        let mark = v.head ? "* " : v.gated ? "! " : "  "
        return [mark + String(v.version), v.task ?? "-"]
            + values.map { $0.map { String(format: "%.1f", $0 * 100) } ?? "-" }
            + [present.isEmpty ? "-" : String(format: "%.1f", present.reduce(0, +) / Double(present.count) * 100)]
    })
}
