import ArgumentParser
import Foundation

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove stored chunks no version or model references (safe while registers run).")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let r = try daemon.client().call("POST", "/v1/gc")
            if daemon.json { printJSON(r) } else {
                print("removed \(r["removed_chunks"]?.intValue ?? 0) chunks (\(r["removed_bytes"]?.intValue ?? 0) bytes) and \(r["removed_manifests"]?.intValue ?? 0) manifests; kept \(r["kept_chunks"]?.intValue ?? 0) chunks")
            }
        }
    }
}
