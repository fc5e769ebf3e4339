import ArgumentParser
import Foundation

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent jobs (newest first), or follow one with --watch.")

    @Option(help: "Follow this job until it ends (progress bar).")
    var watch: Int?

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let client = try daemon.client()
            if let watch {
                let job = try JobWatcher(client: client, showBar: !daemon.json).wait(watch)
                if daemon.json { printJSON(job) } else { print("job \(watch): \(job["state"]?.stringValue ?? "")\(job["error"]?.stringValue.map { " - \($0)" } ?? "")") }
                if job["state"]?.stringValue == "failed" { throw ExitCode(1) }
                return
            }
            let jobs = try client.call("GET", "/v1/jobs")
            if daemon.json { return printJSON(jobs) }
            printTable(["ID", "STATE", "PHASE", "PROGRESS", "TASK", "RESULT"], (jobs.arrayValue ?? []).map { j in
                let result = j["error"]?.stringValue ?? j["result"]?["version"]?.intValue.map { "version \($0)" } ?? ""
                return [String(j["id"]?.intValue ?? 0), j["state"]?.stringValue ?? "", j["phase"]?.stringValue ?? "-",
                        String(format: "%.0f%%", (j["progress"]?.doubleValue ?? 0) * 100), j["task"]?.stringValue ?? "-", result]
            })
        }
    }
}
