import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// How a mergekit YAML file is read (our own reading of Yams' node tree; mergekit itself reads
/// with PyYAML, so its rules are the reference): merge keys, repeated keys, scalar types.
final class MergekitConfigTests: XCTestCase {
    func config(_ text: String) throws -> MergekitConfig {
        let file = try makeTempDirectory(self).appendingPathComponent("merge.yaml")
        try Data(text.utf8).write(to: file)
        return try MergekitConfig(url: file)
    }

    /// `<<: *anchor` and `<<: [*a, *b]` merge as PyYAML does: explicit keys win, and of the merged
    /// mappings the first listed wins.
    func testMergeKeysApplyAnchorsWithExplicitKeysWinning() throws {
        let c = try config("""
            defaults: &d {density: 0.5, weight: 1}
            heavy: &h {weight: 2, lambda: 3}
            merge_method: ties
            models:
            - model: a
              parameters: {<<: *d, weight: 0.3}
            - model: b
              parameters:
                <<: [*h, *d]
            parameters:
              <<: *d
            """)
        func value(_ p: [String: ParameterSetting], _ key: String) -> Double? { p[key]?.value(for: "x", t: 0) }
        XCTAssertEqual(value(c.models[0].parameters, "density"), 0.5)
        XCTAssertEqual(value(c.models[0].parameters, "weight"), 0.3)
        XCTAssertEqual(value(c.models[1].parameters, "weight"), 2, "the first mapping in the list wins")
        XCTAssertEqual(value(c.models[1].parameters, "lambda"), 3)
        XCTAssertEqual(value(c.models[1].parameters, "density"), 0.5)
        XCTAssertEqual(value(c.parameters, "density"), 0.5)
        XCTAssertThrowsError(try config("merge_method: linear\nmodels:\n- model: a\n  parameters: {<<: 3}\n")) { error in
            XCTAssertTrue("\(error)".contains("merge"), "\(error)")
        }
    }

    /// A repeated key keeps its last value (PyYAML), at the top level and inside a model entry.
    func testRepeatedKeysKeepTheirLastValue() throws {
        let c = try config("merge_method: linear\nmerge_method: ties\nmodels:\n- model: a\n  model: b\n")
        XCTAssertEqual(c.method, "ties")
        XCTAssertTrue(c.models[0].path.hasSuffix("/b"), c.models[0].path)
    }
}
