import ArgumentParser
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a version now on every task registered with --eval, and store the accuracies.")

    @Argument(help: "Version number, tag or head.")
    var version: String

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let r = try daemon.client().call("POST", "/v1/versions/\(pathSegment(version))/eval")
            if daemon.json { return printJSON(r) }
            print("version \(r["version"]?.intValue ?? 0):")
            printTable(["  TASK", "ACCURACY", "NORMALISED", "ITEMS"], (r["results"]?.arrayValue ?? []).map {
                ["  " + ($0["task"]?.stringValue ?? ""), String(format: "%.1f%%", ($0["accuracy"]?.doubleValue ?? 0) * 100),
                 String(format: "%.1f%%", ($0["accuracy_norm"]?.doubleValue ?? 0) * 100), String($0["n"]?.intValue ?? 0)]
            })
        }
    }
}
