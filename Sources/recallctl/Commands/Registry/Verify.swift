import ArgumentParser
import Foundation
import RecallAPI
import RecallTensor

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every stored chunk against its hash; exit 1 when anything is missing or corrupt.")

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (r, json) = try daemon.client().call("POST", "/v1/verify", as: VerifyReply.self)
            if daemon.json { printJSON(json) } else {
                print("\(r.manifests) manifests, \(r.chunksChecked) chunks checked: \(r.clean ? "clean" : "PROBLEMS")")
                for m in r.missing { print("missing: \(m)") }
                for c in r.corrupt { print("corrupt: \(c)") }
            }
            if !r.clean {
                throw RecallError(.invalidFile, "store verify found missing or corrupt data; restore the store from a backup or re-register the models named above")
            }
        }
    }
}
