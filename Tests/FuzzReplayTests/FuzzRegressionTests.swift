import XCTest
@testable import RecallTensor
@testable import RecallMerge
import RecallTestSupport

/// Every input `make fuzz` found to crash a parser (fuzz/, RELIABILITY.md "Fuzzing"), kept as the
/// exact bytes libFuzzer wrote (Fixtures/fuzz/<harness>-<what>.*) and fed to the same entry point.
/// A crash here is a trap, so these tests fail by killing the test process, as the parser did.
final class FuzzRegressionTests: XCTestCase {
    /// mergekit YAML with an explicit complex key (`?  parameters: ...` makes a mapping the key):
    /// Yams.load force-unwraps every key as a string (Constructor.swift `String.construct(from:)!`)
    /// and trapped `recallctl merge --config`; MergekitConfig now refuses non-scalar keys first.
    func testMergekitComplexMappingKeyIsRefused() throws {
        let url = Fixtures.url("fuzz/mergekit-complex-key.yaml")
        XCTAssertThrowsError(try MergekitConfig(url: url)) { error in
            XCTAssertTrue("\(error)".contains("mapping key is not a plain scalar"), "\(error)")
        }
        // The same shape, reduced, and a sequence as key.
        let dir = try makeTempDirectory(self)
        for (name, text) in [("map.yaml", "merge_method: linear\n? {a: 1}\n: x\n"),
                             ("seq.yaml", "merge_method: linear\nmodels:\n- model: m\n  parameters:\n    ? [a, b]\n    : 1\n")] {
            let file = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: file)
            XCTAssertThrowsError(try MergekitConfig(url: file), name)
        }
        // Plain files are still read.
        let ok = dir.appendingPathComponent("ok.yaml")
        try Data("merge_method: linear\nmodels:\n- model: a\n  parameters: {weight: [0.2, 1.0]}\n- model: b\ndtype: float32\n".utf8).write(to: ok)
        let config = try MergekitConfig(url: ok)
        XCTAssertEqual(config.method, "linear")
        XCTAssertEqual(config.models.count, 2)
    }

    /// A plain scalar in YAML 1.1's base-60 form (`999999999999999923:33`): Yams' constructor
    /// computed it with overflowing arithmetic and trapped. MergekitConfig no longer uses that
    /// constructor; such a scalar is a string, so the file is refused or the field names itself.
    func testMergekitSexagesimalIntegerOverflowIsRefused() throws {
        XCTAssertThrowsError(try MergekitConfig(url: Fixtures.url("fuzz/mergekit-sexagesimal-overflow.yaml"))) { error in
            XCTAssertTrue("\(error)".contains("expected a YAML mapping at the top"), "\(error)")
        }
        let dir = try makeTempDirectory(self)
        let seed = dir.appendingPathComponent("seed.yaml")
        try Data("merge_method: linear\nmodels:\n- model: a\nrandom_seed: 999999999999999923:33\n".utf8).write(to: seed)
        XCTAssertThrowsError(try MergekitConfig(url: seed)) { error in
            XCTAssertTrue("\(error)".contains("random_seed must be a non-negative integer"), "\(error)")
        }
        // PyYAML's reading (mergekit's) of the scalars that stay: bools in YAML 1.1's words, numbers, quoted strings.
        let ok = dir.appendingPathComponent("ok.yaml")
        try Data("merge_method: ties\nbase_model: '7'\nmodels:\n- model: a\n  parameters: {density: 0.5, weight: 1}\nparameters: {normalize: yes, int8_mask: off}\nrandom_seed: 3\n".utf8).write(to: ok)
        let config = try MergekitConfig(url: ok)
        XCTAssertEqual(config.seed, 3)
        XCTAssertTrue(config.basePath?.hasSuffix("/7") ?? false, "\(config.basePath ?? "")")
        XCTAssertEqual(config.parameters["normalize"]?.value(for: "x", t: 0), 1)
        XCTAssertEqual(config.parameters["int8_mask"]?.value(for: "x", t: 0), 0)
        XCTAssertEqual(config.models[0].parameters["density"]?.value(for: "x", t: 0), 0.5)
    }
}
