import Foundation
import XCTest
import RecallTensor
import RecallAPI
import RecallService

/// The report's pieces that need no daemon: the colour ramp, backward transfer and the reproduce
/// commands, each against numbers worked out by hand.
final class ReportChartsTests: XCTestCase {
    /// WCAG relative luminance of "#rrggbb".
    func luminance(_ hex: String) -> Double {
        let v = Int(hex.dropFirst(), radix: 16)!
        func linear(_ c: Int) -> Double {
            let s = Double(c) / 255
            return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * linear(v >> 16 & 0xff) + 0.7152 * linear(v >> 8 & 0xff) + 0.0722 * linear(v & 0xff)
    }

    /// A larger value is always darker, so a heatmap reads the same in greyscale.
    func testTheColourRampsLuminanceFallsMonotonically() {
        let ramp = (0...200).map { SVGCharts.colour(Double($0) / 200) }
        let lum = ramp.map(luminance)
        for i in 1..<lum.count {
            XCTAssertLessThan(lum[i], lum[i - 1], "\(ramp[i - 1]) -> \(ramp[i]) at t = \(Double(i) / 200)")
        }
        XCTAssertGreaterThan(lum.first! - lum.last!, 0.8, "the ramp spans light to dark")
        XCTAssertEqual(SVGCharts.colour(-1), SVGCharts.colour(0))
        XCTAssertEqual(SVGCharts.colour(.nan), SVGCharts.colour(0))
    }

    func testBackwardTransferIsTheMeanDropOfEarlierTasksSinceTheyWereAdded() throws {
        // Tasks a (added v2), b (added v3), c (added v5, after a gated v4 that re-registered a).
        let evaluations = EvaluationsReply(metric: "accuracy", tasks: ["a", "b", "c"], versions: [
            .init(version: 2, task: "a", head: false, gated: false, accuracy: ["a": 0.9]),
            .init(version: 3, task: "b", head: false, gated: false, accuracy: ["a": 0.8, "b": 0.7]),
            .init(version: 4, task: "a", head: false, gated: true, accuracy: ["a": 0.5, "b": 0.6]),
            .init(version: 5, task: "c", head: true, gated: false, accuracy: ["a": 0.85, "b": 0.5, "c": 1.0]),
        ])
        let bwt = BackwardTransfer.byVersion(evaluations)
        XCTAssertNil(bwt[2], "one task seen: no BWT")
        XCTAssertEqual(try XCTUnwrap(bwt[3]), -0.1, accuracy: 1e-12)            // a: 0.8 - 0.9
        XCTAssertEqual(try XCTUnwrap(bwt[4]), -0.4, accuracy: 1e-12)            // a only (b is the last seen): 0.5 - 0.9
        XCTAssertEqual(try XCTUnwrap(bwt[5]), (-0.05 + -0.2) / 2, accuracy: 1e-12) // a: 0.85 - 0.9, b: 0.5 - 0.7
    }

    func testTheReproduceCommandNamesTheRecordedMethodOptionsAndFiles() throws {
        let settings = SettingsReply(baseModelID: 1, method: "recall", scenario: "sequential", options: ["tau": "0.1", "clusters": "4"],
                                     gatePoints: nil, evalMetric: "accuracy_norm")
        let version = Self.version(4, parent: 2, task: "q&a", method: "recall", inputs: [
            .init(modelID: 1, name: "base", task: nil, role: "base", contentHash: "aa"),
            .init(modelID: 7, name: "my model", task: "q&a", role: "new", contentHash: "bb"),
        ])
        let request = try JSONValue.parse(Data("""
            {"model": "/home/u/models/qa-expert", "name": "my model", "samples_name": "/home/u/data/qa samples.jsonl", "eval": "[]", "eval_name": "/x/qa-eval.jsonl",
             "gate": 2.5, "trained_from": "head", "parent": null}
            """.utf8), rejectDuplicateKeys: false)
        let command = ReproduceCommand(version: version, settings: settings, request: request)
        XCTAssertEqual(command.lines, [
            "recallctl init BASE_DIR --method recall --scenario sequential --opt clusters=4 --opt tau=0.1 --eval-metric accuracy_norm",
            "recallctl register qa-expert --task 'q&a' --samples 'qa samples.jsonl' --name 'my model' --eval qa-eval.jsonl --parent 2 --trained-from head --gate 2.5",
        ])
        XCTAssertEqual(command.files, ["BASE_DIR", "qa-expert", "qa samples.jsonl", "qa-eval.jsonl"])
        XCTAssertFalse(command.lines.joined().contains("/home/u"), "file names only, never the registering machine's paths")
        // The base version: the init alone; a register whose job is gone: placeholders for its files.
        let base = Self.version(1, parent: nil, task: nil, method: "base", inputs: [])
        XCTAssertEqual(ReproduceCommand(version: base, settings: settings, request: nil).lines.count, 1)
        let orphan = ReproduceCommand(version: version, settings: settings, request: nil)
        XCTAssertEqual(orphan.lines.last, "recallctl register 'my model' --task 'q&a' --samples SAMPLES.jsonl --parent 2")
    }

    /// A version as `/v1/versions/{n}` answers it, with what the reproduce commands read.
    static func version(_ n: Int, parent: Int?, task: String?, method: String, inputs: [VersionDetailReply.Input]) -> VersionDetailReply {
        VersionDetailReply(version: n, parent: parent, task: task, method: method, message: "", createdAt: "2025-01-31T12:00:00.000Z",
                           head: true, gated: false, gateReason: nil,
                           model: .init(id: 9, name: "merged", contentHash: "cc", rawBytes: 1, storedBytes: 1, uniqueBytes: nil),
                           inputs: inputs, modelNames: [:], layerWeights: [], similarities: [], typicalSamples: [], details: .object([]))
    }
}
