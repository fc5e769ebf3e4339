import ArgumentParser
import Foundation
import RecallAPI
import RecallTensor

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's state: settings, head, jobs, store size.")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (s, json) = try daemon.client().call("GET", "/v1/status", as: StatusReply.self)
            if daemon.json { return printJSON(json) }
            print("recall-registry \(s.version) serving \(s.home ?? "a registry on another machine")")
            if let settings = s.settings {
                // Options as the daemon sent them: a JSON object sorted by key.
                let options = JSONValue.object(settings.options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
                print("method \(settings.method)  scenario \(settings.scenario)  options \(options)")
                print("head: version \(s.head ?? 0) of \(s.versions)")
            } else {
                print("not initialised: run `recallctl init BASE_MODEL_DIR`")
            }
            let j = s.jobs
            print("jobs: \(j.queued) queued, \(j.running) running, \(j.succeeded) succeeded, \(j.failed) failed")
            print("store: \(s.store.storedBytes) bytes in \(s.store.chunks) chunks for \(s.store.logicalBytes) logical bytes")
        }
    }
}
