import Foundation
import XCTest

/// `make test`'s share of the fuzzing (issue #20): every input under fuzz/corpus (the seeds made
/// from the fixtures, and each crash the fuzzer found, kept as a regression) runs once through its
/// harness, the same code libFuzzer drives (FuzzHarnesses.swift links fuzz/Sources). A parser that
/// traps again on any of them stops the test run. Fuzzing itself (`make fuzz`, `make fuzz-smoke`)
/// needs a libFuzzer + ASan build of every dependency, minutes that CI does not spend.
final class FuzzCorpusReplayTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz/corpus")

    func testEveryCorpusInputRunsThroughItsHarness() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).sorted()
        XCTAssertEqual(Set(folders), Set(Harnesses.all.keys), "one corpus folder per harness")
        var ran = 0
        for name in folders {
            let harness = try XCTUnwrap(Harnesses.all[name], name)
            let inputs = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.appendingPathComponent(name).path).sorted()
            XCTAssertFalse(inputs.isEmpty, "fuzz/corpus/\(name) has no inputs")
            for input in inputs {
                let bytes = try Data(contentsOf: Self.corpus.appendingPathComponent(name).appendingPathComponent(input))
                bytes.withUnsafeBytes { harness($0) }
                ran += 1
            }
        }
        XCTAssertGreaterThanOrEqual(ran, 2 * Harnesses.all.count)
    }
}
