import ArgumentParser
import Foundation
import RecallTensor

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every stored chunk against its hash; exit 1 when anything is missing or corrupt.")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let r = try daemon.client().call("POST", "/v1/verify")
            if daemon.json { printJSON(r) } else {
                print("\(r["manifests"]?.intValue ?? 0) manifests, \(r["chunks_checked"]?.intValue ?? 0) chunks checked: \(r["clean"]?.boolValue == true ? "clean" : "PROBLEMS")")
                for m in r["missing"]?.arrayValue ?? [] { print("missing: \(m.stringValue ?? "")") }
                for c in r["corrupt"]?.arrayValue ?? [] { print("corrupt: \(c.stringValue ?? "")") }
            }
            if r["clean"]?.boolValue != true {
                throw RecallError(.invalidFile, "store verify found missing or corrupt data; restore the store from a backup or re-register the models named above")
            }
        }
    }
}
