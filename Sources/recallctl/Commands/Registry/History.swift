import ArgumentParser
import Foundation
import RecallCore

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every version: parent, task, method, time; * marks head.")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
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
