import ArgumentParser
import Foundation
import RecallAPI

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Move head to an earlier (or any) version; history keeps every version.")

    @Argument(help: "Version number or tag.")
    var version: String

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (r, json) = try daemon.client().call("POST", "/v1/rollback", RollbackRequest(version: version).json, as: RollbackReply.self)
            if daemon.json { printJSON(json) } else { print("head is now version \(r.head)") }
        }
    }
}
