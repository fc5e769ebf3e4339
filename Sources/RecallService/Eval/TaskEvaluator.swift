import Foundation
import RecallTensor
import RecallModel
import RecallStore

/// Multiple-choice accuracy of a model on a task's eval items, scored with our own forward pass:
/// each choice's log-probability given the prompt, summed (`accuracy`) and per token
/// (`accuracy_norm`, the length-normalised variant); the highest-scoring choice is the answer.
///
/// Tokenisation as the Python benchmark does it: prompt and prompt + choice are encoded
/// separately and the choice's tokens are those after their shared prefix, so a merge of the
/// prompt's last token with the choice's first is scored the way the model would read it.
public struct TaskEvaluator {
    public struct Item: Sendable {
        public let prompt: String
        public let choices: [String]
        public let answer: Int
    }

    public struct Result: Equatable, Sendable {
        public var accuracy: Double
        public var accuracyNormalised: Double
        public var items: Int
        /// Per item: did the summed / normalised score pick the answer (for paired bootstrap intervals).
        public var correct: [Bool] = []
        public var correctNormalised: [Bool] = []
    }

    /// Reads eval JSONL: every line needs `prompt`, `choices` and an `answer` that is one of them.
    public static func items(_ data: Data, source: String) throws -> [Item] {
        try SamplesFile.parse(data, source: source).map { s in
            guard let prompt = s.prompt, let choices = s.choices, let answer = s.answer else {
                throw RecallError(.invalidFile, "\(source): line \(s.line): eval items need \"prompt\", \"choices\" and \"answer\"")
            }
            guard let index = choices.firstIndex(of: answer) else {
                throw RecallError(.invalidFile, "\(source): line \(s.line): \"answer\" must be one of \"choices\"")
            }
            guard choices.count >= 2 else { throw RecallError(.invalidFile, "\(source): line \(s.line): needs at least two choices") }
            return Item(prompt: prompt, choices: choices, answer: index)
        }
    }

    /// Items per forward pass (each item's choices share its prompt's rows).
    public let batchSize: Int
    public init(batchSize: Int = 32) { self.batchSize = batchSize }

    public func evaluate(_ model: LlamaModel, tokenizer: Tokenizer, items: [Item]) throws -> Result {
        let groups: [[(prompt: [Int], continuation: [Int])]] = items.map { item in
            let p = tokenizer.encode(item.prompt)
            return item.choices.map { choice in
                let full = tokenizer.encode(item.prompt + choice)
                let shared = zip(p, full).prefix { $0 == $1 }.count
                // Keep at least one prompt token to condition on.
                let split = max(1, min(shared, full.count - 1))
                return (Array(full[..<split]), Array(full[split...]))
            }
        }
        var sums = [[Double]](), means = [[Double]]()
        var start = 0
        while start < groups.count {
            let end = min(groups.count, start + batchSize)
            for scored in try model.logProbabilities(groups: Array(groups[start..<end])) {
                let totals = scored.map { $0.reduce(0.0) { $0 + Double($1) } }
                sums.append(totals)
                means.append(zip(totals, scored).map { $0 / Double(max(1, $1.count)) })
            }
            start = end
        }
        func argmax(_ v: [Double]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }
        let n = Double(max(1, items.count))
        let hits = items.indices.map { argmax(sums[$0]) == items[$0].answer }
        let hitsNorm = items.indices.map { argmax(means[$0]) == items[$0].answer }
        return Result(accuracy: Double(hits.filter { $0 }.count) / n, accuracyNormalised: Double(hitsNorm.filter { $0 }.count) / n,
                      items: items.count, correct: hits, correctNormalised: hitsNorm)
    }
}

extension TaskEvaluator.Result {
    /// What the provenance store keeps of this result.
    func score(task: String) -> EvaluationScore {
        EvaluationScore(task: task, accuracy: accuracy, accuracyNormalised: accuracyNormalised, items: items)
    }
}
