import ArgumentParser
import RecallTensor

@main
struct RecallRegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recall-registry",
        abstract: "The RECALL model registry daemon: registers task models and merges them into an evolving model.",
        discussion: "Start it with `recall-registry serve`; talk to it with `recallctl`.",
        version: RecallVersion.string,
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}
