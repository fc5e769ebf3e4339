import ArgumentParser
import Foundation
import RecallModel

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tokenize text with a model directory's tokenizer.json.")

    @Argument(help: "HF model directory (or a directory holding tokenizer.json).")
    var model: String

    @Option(help: "The text to tokenize.")
    var text: String

    @Flag(name: .customLong("no-special"), help: "Do not add BOS/EOS or other template tokens.")
    var noSpecial = false

    @Flag(help: "Print JSON: ids, tokens and the decoded text.")
    var json = false

    func run() throws {
        try reportingFailures {
            let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
            let ids = tokenizer.encode(text, addSpecialTokens: !noSpecial)
            if json {
                printJSON(.object([
                    ("ids", .array(ids.map { .int($0) })),
                    ("tokens", .array(ids.map { .string(tokenizer.token(forID: $0) ?? "") })),
                    ("decoded", .string(tokenizer.decode(ids))),
                ]))
            } else {
                print(ids.map(String.init).joined(separator: " "))
            }
        }
    }
}
