import Foundation
import XCTest
@testable import RecallTensor
@testable import RecallModel
@testable import RecallStore
import RecallTestSupport

/// A forward pass over a stored model reads a file-backed copy instead of decoding every tensor
/// into anonymous memory (make bench-scale: 12.7 GiB at 7B before).
final class ForwardWeightsTests: XCTestCase {
    func testLargeBuiltSourcesAreSpilledToAMappedFileWithTheSameBytes() throws {
        let home = try makeTempDirectory(self)
        let store = try RegistryStore(home: home.appendingPathComponent("home"))
        let checkpoint = try Checkpoint.open(Fixtures.url("hf-tiny-llama"))
        let model = try store.putModel(checkpoint, kind: .base, name: "tiny").model
        let stored = try store.checkpoint(of: model)
        let scratch = home.appendingPathComponent("scratch")

        // Under the budget, or already mapped: used as is.
        XCTAssertTrue(try ForwardWeights.mapped(stored, scratch: scratch) === stored)
        XCTAssertTrue(try ForwardWeights.mapped(checkpoint.weights, scratch: scratch, budget: 0) === checkpoint.weights)

        let mapped = try ForwardWeights.mapped(stored, scratch: scratch, budget: 0)
        XCTAssertTrue(mapped is SafeTensorsFile)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "unlinked once mapped")
        XCTAssertEqual(mapped.infos.map(\.name).sorted(), stored.infos.map(\.name).sorted())
        for info in stored.infos {
            let a = try stored.tensor(named: info.name), b = try mapped.tensor(named: info.name)
            XCTAssertEqual(b.dtype, a.dtype)
            XCTAssertEqual(b.shape, a.shape)
            XCTAssertEqual(a.copyBytes(), b.copyBytes(), info.name)
        }

        // The same model either way: identical hidden states.
        let config = try checkpoint.modelConfig()
        let ids = [[1, 5, 9, 2, 7]]
        let direct = try LlamaModel(config: config, weights: stored).hiddenStates(ids, options: ForwardOptions(pooling: .mean))
        let spilled = try LlamaModel(config: config, mapping: stored, scratch: scratch, origin: "test", budget: 0)
            .hiddenStates(ids, options: ForwardOptions(pooling: .mean))
        for l in 0..<direct.layerCount {
            XCTAssertEqual(Array(direct.pooled(layer: l, sample: 0)), Array(spilled.pooled(layer: l, sample: 0)), "layer \(l)")
        }
    }
}
