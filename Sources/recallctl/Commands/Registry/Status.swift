import ArgumentParser
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's state: settings, head, jobs, store size.")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let s = try daemon.client().call("GET", "/v1/status")
            if daemon.json { return printJSON(s) }
            print("recall-registry \(s["version"]?.stringValue ?? "") serving \(s["home"]?.stringValue ?? "")")
            if let settings = s["settings"], !settings.isNull {
                print("method \(settings["method"]?.stringValue ?? "")  scenario \(settings["scenario"]?.stringValue ?? "")  options \(settings["options"]?.serialized() ?? "{}")")
                print("head: version \(s["head"]?.intValue ?? 0) of \(s["versions"]?.intValue ?? 0)")
            } else {
                print("not initialised: run `recallctl init BASE_MODEL_DIR`")
            }
            let j = s["jobs"] ?? .null
            print("jobs: \(j["queued"]?.intValue ?? 0) queued, \(j["running"]?.intValue ?? 0) running, \(j["succeeded"]?.intValue ?? 0) succeeded, \(j["failed"]?.intValue ?? 0) failed")
            let st = s["store"] ?? .null
            print("store: \(st["stored_bytes"]?.intValue ?? 0) bytes in \(st["chunks"]?.intValue ?? 0) chunks for \(st["logical_bytes"]?.intValue ?? 0) logical bytes")
        }
    }
}
