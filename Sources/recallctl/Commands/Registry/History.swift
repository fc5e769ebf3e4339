import ArgumentParser
import Foundation

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
            let versions = try daemon.client().call("GET", "/v1/versions")
            if daemon.json { return printJSON(versions) }
            let rows = (versions.arrayValue ?? []).map { v -> [String] in
                var flags: [String] = []
                if v["gated"]?.boolValue == true { flags.append("gated: \(v["gate_reason"]?.stringValue ?? "")") }
                let tags = (v["tags"]?.arrayValue ?? []).compactMap(\.stringValue)
                if !tags.isEmpty { flags.append("tags: " + tags.joined(separator: ",")) }
                return [(v["head"]?.boolValue == true ? "* " : "  ") + String(v["version"]?.intValue ?? 0),
                        v["parent"]?.intValue.map(String.init) ?? "-", v["task"]?.stringValue ?? "-", v["method"]?.stringValue ?? "",
                        String((v["created_at"]?.stringValue ?? "").prefix(19)).replacingOccurrences(of: "T", with: " "),
                        flags.joined(separator: "; ")]
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
    let m = try client.call("GET", "/v1/evaluations" + (metric.map { "?metric=\(pathSegment($0))" } ?? ""))
    if json { return printJSON(m) }
    let tasks = (m["tasks"]?.arrayValue ?? []).compactMap(\.stringValue)
    guard !tasks.isEmpty else { print("no evaluations yet: register tasks with --eval FILE.jsonl"); return }
    print("\(m["metric"]?.stringValue ?? "accuracy") (%) by version; * head, ! gated")
    printTable(["  VERSION", "TASK"] + tasks + ["MEAN"], (m["versions"]?.arrayValue ?? []).map { v in
        let acc = v["accuracy"] ?? .null
        let values = tasks.map { acc[$0]?.doubleValue }
        let present = values.compactMap { $0 }
        let mark = v["head"]?.boolValue == true ? "* " : v["gated"]?.boolValue == true ? "! " : "  "
        return [mark + String(v["version"]?.intValue ?? 0), v["task"]?.stringValue ?? "-"]
            + values.map { $0.map { String(format: "%.1f", $0 * 100) } ?? "-" }
            + [present.isEmpty ? "-" : String(format: "%.1f", present.reduce(0, +) / Double(present.count) * 100)]
    })
}
