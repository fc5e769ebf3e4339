import ArgumentParser
import Foundation
import RecallCore

@main
struct Recallctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recallctl",
        abstract: "Inspect, convert and (soon) register model checkpoints for the RECALL model registry.",
        version: RecallVersion.string,
        subcommands: [Inspect.self, Convert.self]
    )
}
