import ArgumentParser
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Greedy generation of a few tokens (a smoke check).")

    @Argument(help: "HF model directory.")
    var model: String

    @Option(help: "The prompt.")
    var prompt: String

    @Option(name: .customLong("max-tokens"), help: "Tokens to generate at most.")
    var maxTokens: Int = 20

    func validate() throws {
        guard (1...4096).contains(maxTokens) else { throw ValidationError("--max-tokens must be 1...4096") }
    }

    func run() throws {
        try reportingFailures {
            let loaded = try LoadedModel(path: model)
            var stop = Set(loaded.model.config.eosTokenIDs)
            if let eos = loaded.tokenizer.eosTokenID { stop.insert(eos) }
            let out = try loaded.model.greedy(prompt: loaded.tokenizer.encode(prompt), maxNewTokens: maxTokens, stop: stop)
            print(loaded.tokenizer.decode(out, skipSpecialTokens: true))
        }
    }
}
