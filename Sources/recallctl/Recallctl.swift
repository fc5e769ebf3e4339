import ArgumentParser
import Foundation
import RecallCore

@main
struct Recallctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recallctl",
        abstract: "Inspect, convert and merge model checkpoints for the RECALL model registry.",
        discussion: "Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 usage error.",
        version: RecallVersion.string,
        subcommands: [Inspect.self, Convert.self, Merge.self, Tokenize.self, HiddenStatesCommand.self, Score.self, Generate.self, Import.self, ApplyLoRA.self]
    )

    /// ArgumentParser reports usage errors with EX_USAGE (64); we promise 2, as most tools do.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
