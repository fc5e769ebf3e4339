import ArgumentParser
import Foundation
import RecallTensor

@main
struct Recallctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recallctl",
        abstract: "Talk to the RECALL model registry daemon, and inspect, convert and merge checkpoints.",
        discussion: "Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 usage error.",
        version: RecallVersion.string,
        subcommands: [
            InitCommand.self, Register.self, History.self, Show.self, Rollback.self, Tag.self, Export.self, Jobs.self, Status.self,
            Eval.self, Verify.self, GC.self, Report.self, UICommand.self, DaemonCommand.self,
            Inspect.self, Convert.self, Merge.self, Tokenize.self, HiddenStatesCommand.self, Score.self, Accuracy.self, Generate.self, Import.self, ApplyLoRA.self,
        ]
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
