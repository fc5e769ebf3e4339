import Foundation

/// One line of a samples file: `text` (what the model reads), and optionally `prompt` +
/// `answer` (for scoring) and `choices` (for multiple-choice evaluation).
public struct Sample: Equatable, Sendable {
    public let text: String
    public let prompt: String?
    public let answer: String?
    public let choices: [String]?
    /// 1-based line number in the file.
    public let line: Int
    /// The task a probe sample belongs to (optional `task` field), for RECALL's routing score.
    public var task: String? = nil

    public init(text: String, prompt: String?, answer: String?, choices: [String]?, line: Int, task: String? = nil) {
        self.text = text
        self.prompt = prompt
        self.answer = answer
        self.choices = choices
        self.line = line
        self.task = task
    }
}

/// A JSONL samples file (one JSON object per line; blank lines are skipped).
///
/// Every line must be an object with a non-empty string `text`, or with `prompt` (then `text`
/// defaults to prompt + answer). A malformed line is an error naming the file and line number;
/// an empty file is an error too, since a task without samples cannot be merged or evaluated.
public enum SamplesFile {
    public static func load(_ url: URL) throws -> [Sample] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RecallError(.notFound, "\(url.path): cannot read the samples file (\(error.localizedDescription))")
        }
        return try parse(data, source: url.path)
    }

    /// Parses JSONL bytes; `source` names the file in errors (the daemon gets the bytes, not the file).
    public static func parse(_ data: Data, source: String) throws -> [Sample] {
        var samples: [Sample] = []
        var lineNumber = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(source): line \(lineNumber): \(why)") }
            let json: JSONValue
            do { json = try JSONValue.parse(Data(line), rejectDuplicateKeys: false) } catch {
                throw bad("not valid JSON (\(error)); each line must be one JSON object")
            }
            guard json.objectValue != nil else { throw bad("expected a JSON object with a \"text\" field") }
            func string(_ key: String) throws -> String? {
                guard let v = json[key], !v.isNull else { return nil }
                guard let s = v.stringValue else { throw bad("field \"\(key)\" must be a string") }
                return s
            }
            let prompt = try string("prompt"), answer = try string("answer")
            var choices: [String]?
            if let c = json["choices"], !c.isNull {
                guard let list = c.arrayValue, !list.isEmpty, list.allSatisfy({ $0.stringValue != nil }) else {
                    throw bad("field \"choices\" must be a non-empty list of strings")
                }
                choices = list.compactMap(\.stringValue)
            }
            let text = try string("text") ?? prompt.map { $0 + (answer ?? "") }
            guard let text, !text.isEmpty else { throw bad("needs a non-empty \"text\" (or \"prompt\")") }
            samples.append(Sample(text: text, prompt: prompt, answer: answer, choices: choices, line: lineNumber, task: try string("task")))
        }
        guard !samples.isEmpty else { throw RecallError(.invalidFile, "\(source): no samples; expected one JSON object per line with a \"text\" field") }
        return samples
    }
}
