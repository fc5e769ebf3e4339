import Foundation
import XCTest
@testable import RecallTensor

/// Locates committed fixtures next to the test sources (the test target excludes them from resources).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(relative)), options: [.fragmentsAllowed])
    }
}

/// A fresh temporary directory, removed when the test case ends.
func makeTempDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recall-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Asserts that `body` throws a `RecallError` whose message contains every fragment.
func assertRecallError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let e as RecallError {
        for f in fragments {
            XCTAssertTrue(e.message.contains(f), "error \"\(e.message)\" lacks \"\(f)\"", file: file, line: line)
        }
        XCTAssertFalse(e.message.contains("\n"), "error must be one line: \(e.message)", file: file, line: line)
    } catch {
        XCTFail("expected RecallError, got \(error)", file: file, line: line)
    }
}

/// Deterministic pseudo-random numbers so tests never depend on the system RNG.
typealias SeededGenerator = SplitMix

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
