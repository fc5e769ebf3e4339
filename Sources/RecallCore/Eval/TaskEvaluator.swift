import Foundation

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

    public let batchSize: Int
    public init(batchSize: Int = 32) { self.batchSize = batchSize }

    public func evaluate(_ model: LlamaModel, tokenizer: Tokenizer, items: [Item]) throws -> Result {
        var pairs: [(prompt: [Int], continuation: [Int])] = []
        var owner: [(item: Int, choice: Int)] = []
        for (i, item) in items.enumerated() {
            let p = tokenizer.encode(item.prompt)
            for (c, choice) in item.choices.enumerated() {
                let full = tokenizer.encode(item.prompt + choice)
                let shared = zip(p, full).prefix { $0 == $1 }.count
                // Keep at least one prompt token to condition on.
                let split = max(1, min(shared, full.count - 1))
                pairs.append((Array(full[..<split]), Array(full[split...])))
                owner.append((i, c))
            }
        }
        var sums = [[Double]](repeating: [], count: items.count), means = sums
        for (i, item) in items.enumerated() {
            sums[i] = [Double](repeating: -.infinity, count: item.choices.count)
            means[i] = sums[i]
        }
        var start = 0
        while start < pairs.count {
            let end = min(pairs.count, start + batchSize)
            let logps = try model.logProbabilities(Array(pairs[start..<end]))
            for (k, lp) in logps.enumerated() {
                let (i, c) = owner[start + k]
                let total = lp.reduce(0.0) { $0 + Double($1) }
                sums[i][c] = total
                means[i][c] = total / Double(max(1, lp.count))
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
