import ArgumentParser
import Foundation
import RecallAPI

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a version now on every task registered with --eval, and store the accuracies.")

    @Argument(help: "Version number, tag or head.")
    var version: String

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (r, json) = try daemon.client().call("POST", "/v1/versions/\(pathSegment(version))/eval", as: EvalReply.self)
            if daemon.json { return printJSON(json) }
            print("version \(r.version):")
            printTable(["  TASK", "ACCURACY", "NORMALISED", "ITEMS"], r.results.map {
                ["  " + $0.task, String(format: "%.1f%%", $0.accuracy * 100), String(format: "%.1f%%", $0.accuracyNorm * 100), String($0.n)]
            })
        }
    }
}
