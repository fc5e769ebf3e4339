import ArgumentParser
import Foundation
import RecallAPI

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove stored chunks no version or model references (safe while registers run).")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (r, json) = try daemon.client().call("POST", "/v1/gc", as: GCReply.self)
            if daemon.json { printJSON(json) } else {
                print("removed \(r.removedChunks) chunks (\(r.removedBytes) bytes) and \(r.removedManifests) manifests; kept \(r.keptChunks) chunks")
            }
        }
    }
}
