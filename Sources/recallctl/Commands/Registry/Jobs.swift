import ArgumentParser
import Foundation
import RecallAPI

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent jobs (newest first), or follow one with --watch.")

    @Option(help: "Follow this job until it ends (progress bar).")
    var watch: Int?

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let client = try daemon.client()
            if let watch {
                let (job, json) = try JobWatcher(client: client, showBar: !daemon.json).wait(watch)
                if daemon.json { printJSON(json) } else { print("job \(watch): \(job.state)\(job.error.map { " - \($0)" } ?? "")") }
                if job.state == "failed" { throw ExitCode(1) }
                return
            }
            let (jobs, json) = try client.call("GET", "/v1/jobs", as: [JobReply].self)
            if daemon.json { return printJSON(json) }
            printTable(["ID", "STATE", "PHASE", "PROGRESS", "TASK", "RESULT"], jobs.map { j in
                let result = j.error ?? j.result?["version"]?.intValue.map { "version \($0)" } ?? ""
                return [String(j.id), j.state, j.phase ?? "-", String(format: "%.0f%%", j.progress * 100), j.task ?? "-", result]
            })
        }
    }
}
