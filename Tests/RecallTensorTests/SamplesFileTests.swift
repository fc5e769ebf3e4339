import XCTest
@testable import RecallTensor
import RecallTestSupport

final class SamplesFileTests: XCTestCase {
    func write(_ text: String) throws -> URL {
        let url = try makeTempDirectory(self).appendingPathComponent("task.jsonl")
        try Data(text.utf8).write(to: url)
        return url
    }

    func testReadsTextPromptAnswerAndChoices() throws {
        let url = try write("""
            {"text": "hello world"}

            {"prompt": "2+2=", "answer": "4", "choices": ["3", "4"]}\r
            {"text": "x", "prompt": "p", "answer": null}
            """)
        let s = try SamplesFile.load(url)
        XCTAssertEqual(s.map(\.text), ["hello world", "2+2=4", "x"])
        XCTAssertEqual(s.map(\.line), [1, 3, 4])
        XCTAssertEqual(s[1].choices, ["3", "4"])
        XCTAssertNil(s[2].answer)
    }

    func testBadLinesAreNamedByNumber() throws {
        for (text, fragment) in [("{\"text\": \"a\"}\n{oops}\n", "line 2: not valid JSON"),
                                 ("[1, 2]\n", "line 1: expected a JSON object"),
                                 ("{\"text\": 3}\n", "line 1: field \"text\" must be a string"),
                                 ("{\"text\": \"\"}\n", "line 1: needs a non-empty"),
                                 ("{\"text\": \"a\", \"choices\": []}\n", "line 1: field \"choices\""),
                                 ("\n\n", "no samples")] {
            let url = try write(text)
            assertRecallError([url.path, fragment]) { _ = try SamplesFile.load(url) }
        }
        assertRecallError(["cannot read"]) { _ = try SamplesFile.load(URL(fileURLWithPath: "/nonexistent/x.jsonl")) }
    }
}
