import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// config.json files written by transformers' own config classes (and hand-written legacy
/// spellings of the same settings), decoded and compared with what transformers reports.
final class ModelConfigTests: XCTestCase {
    func testFixtureConfigsDecodeLikeTransformers() throws {
        let spec = try XCTUnwrap(Fixtures.json("configs/expected.json") as? [String: Any])
        let configs = try XCTUnwrap(spec["configs"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(configs.count, 10)
        for entry in configs {
            let name = entry["name"] as! String
            let url = Fixtures.url("configs/\(entry["path"] as! String)")
            guard entry["supported"] as! Bool else {
                assertRecallError([url.path, "model_type", "not supported"]) { _ = try ModelConfig.load(from: url) }
                continue
            }
            let c = try ModelConfig.load(from: url)
            let e = try XCTUnwrap(entry["expected"] as? [String: Any])
            XCTAssertEqual(c.modelType, e["model_type"] as? String, name)
            XCTAssertEqual(c.hiddenSize, e["hidden_size"] as? Int, name)
            XCTAssertEqual(c.numHiddenLayers, e["num_hidden_layers"] as? Int, name)
            XCTAssertEqual(c.numAttentionHeads, e["num_attention_heads"] as? Int, name)
            XCTAssertEqual(c.numKeyValueHeads, e["num_key_value_heads"] as? Int, name)
            XCTAssertEqual(c.headDim, e["head_dim"] as? Int, name)
            XCTAssertEqual(c.intermediateSize, e["intermediate_size"] as? Int, name)
            XCTAssertEqual(c.vocabSize, e["vocab_size"] as? Int, name)
            XCTAssertEqual(c.maxPositionEmbeddings, e["max_position_embeddings"] as? Int, name)
            XCTAssertEqual(c.rmsNormEps, (e["rms_norm_eps"] as! NSNumber).doubleValue, name)
            XCTAssertEqual(c.ropeTheta, (e["rope_theta"] as! NSNumber).doubleValue, name)
            XCTAssertEqual(c.tieWordEmbeddings, e["tie_word_embeddings"] as? Bool, name)
            if let scaling = e["rope_scaling"] as? [String: Any] {
                switch scaling["rope_type"] as? String {
                case "linear":
                    XCTAssertEqual(c.ropeScaling, .linear(factor: (scaling["factor"] as! NSNumber).doubleValue), name)
                case "llama3":
                    XCTAssertEqual(c.ropeScaling, .llama3(factor: (scaling["factor"] as! NSNumber).doubleValue,
                                                          lowFreqFactor: (scaling["low_freq_factor"] as! NSNumber).doubleValue,
                                                          highFreqFactor: (scaling["high_freq_factor"] as! NSNumber).doubleValue,
                                                          originalMaxPositionEmbeddings: scaling["original_max_position_embeddings"] as! Int), name)
                default: XCTFail("unexpected rope type in fixture \(name)")
                }
            } else {
                XCTAssertEqual(c.ropeScaling, RopeScaling.none, name)
            }
            // What the instantiated transformers model actually has.
            let m = try XCTUnwrap(entry["model_effective"] as? [String: Any])
            XCTAssertEqual(c.attentionBias, m["q_proj_bias"] as? Bool, name)
            XCTAssertEqual(c.outputProjectionBias, m["o_proj_bias"] as? Bool, name)
            XCTAssertEqual(c.mlpBias, m["mlp_bias"] as? Bool, name)
            XCTAssertEqual([c.numAttentionHeads * c.headDim, c.hiddenSize], m["q_proj_weight_shape"] as? [Int], name)
            XCTAssertEqual([c.numKeyValueHeads * c.headDim, c.hiddenSize], m["k_proj_weight_shape"] as? [Int], name)
        }
    }

    func config(_ text: String) throws -> ModelConfig { try ModelConfig(json: JSONValue.parse(Data(text.utf8)), source: "cfg.json") }

    let base = #""model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"vocab_size":100"#

    func testDefaults() throws {
        let c = try config("{\(base)}")
        XCTAssertEqual(c.numKeyValueHeads, 4)
        XCTAssertEqual(c.headDim, 16)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertEqual(c.ropeScaling, RopeScaling.none)
        XCTAssertFalse(c.tieWordEmbeddings)
    }

    func testRopeParametersWinOverLegacyFields() throws {
        let c = try config(#"{\#(base),"rope_theta":1.0,"rope_parameters":{"rope_type":"default","rope_theta":123.0}}"#)
        XCTAssertEqual(c.ropeTheta, 123)
    }

    func testBadConfigsNameTheField() {
        assertRecallError(["cfg.json", "rope_scaling.type \"yarn\"", "not supported"]) {
            _ = try config(#"{\#(base),"rope_scaling":{"type":"yarn","factor":2}}"#)
        }
        assertRecallError(["cfg.json", "rope_parameters.rope_type \"dynamic\""]) {
            _ = try config(#"{\#(base),"rope_parameters":{"rope_type":"dynamic","rope_theta":1e4}}"#)
        }
        assertRecallError(["cfg.json", "missing field hidden_size"]) {
            _ = try config(#"{"model_type":"llama","num_hidden_layers":2}"#)
        }
        assertRecallError(["cfg.json", "model_type"]) { _ = try config(#"{"hidden_size":4}"#) }
        assertRecallError(["cfg.json", "not a multiple of num_key_value_heads"]) {
            _ = try config(#"{\#(base),"num_key_value_heads":3}"#)
        }
        assertRecallError(["cfg.json", "linear needs a positive factor"]) {
            _ = try config(#"{\#(base),"rope_scaling":{"type":"linear"}}"#)
        }
    }
}
