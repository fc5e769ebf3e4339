import Foundation
import XCTest
// A plain import: this is a regular target, built in release too, where nothing is testable.
import RecallTensor

// What every test target shares: the committed fixtures, temporary directories, error checks.

/// Locates the committed fixtures, Tests/Fixtures (no target's sources, so no target's resources).
public enum Fixtures {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    /// The repository's root (Tests/..), for files the tests read outside Tests/.
    public static let repository = root.deletingLastPathComponent().deletingLastPathComponent()
    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
    public static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(relative)), options: [.fragmentsAllowed])
    }
}

/// A fresh temporary directory, removed when the test case ends.
public func makeTempDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recall-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Asserts that `body` throws a `RecallError` whose message contains every fragment.
public func assertRecallError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
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
public typealias SeededGenerator = SplitMix

public func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
