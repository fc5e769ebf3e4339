import ArgumentParser
import Foundation
import RecallTensor
import RecallService

struct Accuracy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Multiple-choice accuracy of a model directory on eval files, without the daemon.",
        discussion: "The same scoring as the registry's per-version eval: each choice's log-probability given the prompt; `accuracy` sums it, `accuracy_norm` divides by the choice's token count.")

    @Argument(help: "HF model directory.")
    var model: String

    @Option(name: .customLong("eval"), help: "Eval JSONL (prompt, choices, answer per line); repeatable. The task is the parent folder's name.")
    var evals: [String] = []

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if evals.isEmpty { throw ValidationError("give at least one --eval FILE.jsonl") }
    }

    func run() throws {
        try reportingFailures {
            let loaded = try LoadedModel(path: model)
            var rows: [(task: String, file: String, result: TaskEvaluator.Result)] = []
            for file in evals {
                guard let data = FileManager.default.contents(atPath: file) else { throw RecallError(.notFound, "\(file): cannot read the eval file") }
                let items = try TaskEvaluator.items(data, source: file)
                let task = URL(fileURLWithPath: file).deletingLastPathComponent().lastPathComponent
                rows.append((task, file, try TaskEvaluator().evaluate(loaded.model, tokenizer: loaded.tokenizer, items: items)))
            }
            if json {
                printJSON(.array(rows.map { .object([("task", .string($0.task)), ("file", .string($0.file)),
                                                     ("accuracy", .number($0.result.accuracy, integer: nil)),
                                                     ("accuracy_norm", .number($0.result.accuracyNormalised, integer: nil)),
                                                     ("n", .int($0.result.items)),
                                                     ("correct", .array($0.result.correct.map { .bool($0) })),
                                                     ("correct_norm", .array($0.result.correctNormalised.map { .bool($0) }))]) }))
            } else {
                printTable(["TASK", "ACCURACY", "NORMALISED", "ITEMS"], rows.map {
                    [$0.task, String(format: "%.1f%%", $0.result.accuracy * 100), String(format: "%.1f%%", $0.result.accuracyNormalised * 100), String($0.result.items)]
                })
            }
        }
    }
}
