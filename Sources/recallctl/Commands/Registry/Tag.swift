import ArgumentParser
import Foundation
import RecallAPI

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Name a version (re-tagging moves the name).")

    @Argument(help: "Tag name (no spaces, not 'head').")
    var name: String

    @Argument(help: "Version number, tag or head (default head).")
    var version: String = "head"

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            let (r, json) = try daemon.client().call("POST", "/v1/tags", TagRequest(name: name, version: version).json, as: TagReply.self)
            if daemon.json { printJSON(json) } else { print("\(r.tag) -> version \(r.version)") }
        }
    }
}
