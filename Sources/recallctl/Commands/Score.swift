import ArgumentParser
import Foundation

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log-probability of each answer choice after a prompt.")

    @Argument(help: "HF model directory.")
    var model: String

    @Option(help: "The prompt.")
    var prompt: String

    @Option(help: "Choices separated by |, e.g. \"yes|no\".")
    var choices: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try reportingFailures {
            let loaded = try LoadedModel(path: model)
            let options = choices.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let promptIDs = loaded.tokenizer.encode(prompt)
            // A choice's tokens are what the full text adds after the prompt's tokens.
            let pairs = options.map { choice -> (prompt: [Int], continuation: [Int]) in
                let full = loaded.tokenizer.encode(prompt + choice)
                let shared = zip(promptIDs, full).prefix { $0 == $1 }.count
                return (Array(full[..<max(1, shared)]), Array(full[max(1, shared)...]))
            }
            let logps = try loaded.model.logProbabilities(groups: [pairs])[0]  // the choices share the prompt's rows
            let totals = logps.map { Double($0.reduce(0, +)) }
            let best = totals.indices.max { totals[$0] < totals[$1] } ?? 0
            if json {
                printJSON(.object([("choices", .array(options.indices.map { i in
                    .object([("choice", .string(options[i])), ("logprob", .number(totals[i], integer: nil)),
                             ("tokens", .int(logps[i].count)),
                             ("mean_logprob", .number(logps[i].isEmpty ? 0 : totals[i] / Double(logps[i].count), integer: nil))])
                })), ("best", .string(options[best]))]))
            } else {
                for i in options.indices {
                    print(String(format: "%@%10.4f  %@", i == best ? "* " : "  ", totals[i], options[i]))
                }
            }
        }
    }
}
