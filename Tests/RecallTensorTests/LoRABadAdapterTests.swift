import XCTest
@testable import RecallTensor
import RecallTestSupport

/// Adapters that cannot be applied each get their own one-line error naming the file, module or
/// tensor, and what is wrong.
final class LoRABadAdapterTests: XCTestCase {
    var dir: URL!
    var base: Checkpoint!

    override func setUpWithError() throws {
        dir = try makeTempDirectory(self)
        base = try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded"))
    }

    /// A copy of a fixture adapter, with its config edited and its tensors rewritten.
    func adapter(from variant: String = "plain", config edit: ((inout [(String, JSONValue)]) -> Void)? = nil,
                 tensors rewrite: (([TensorView]) -> [TensorView])? = nil) throws -> URL {
        let src = Fixtures.url("lora/\(variant)")
        let dst = dir.appendingPathComponent("adapter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: true)
        var config = try JSONValue.parse(Data(contentsOf: src.appendingPathComponent("adapter_config.json"))).objectValue!
        edit?(&config)
        try Data(JSONValue.object(config).serialized(pretty: true).utf8).write(to: dst.appendingPathComponent("adapter_config.json"))
        let file = try SafeTensorsFile(url: src.appendingPathComponent("adapter_model.safetensors"))
        var views = try file.infos.map { try file.tensor(named: $0.name) }
        if let rewrite { views = rewrite(views) }
        try SafeTensorsWriter().write(views, to: dst.appendingPathComponent("adapter_model.safetensors"))
        return dst
    }

    func set(_ key: String, _ value: JSONValue) -> (inout [(String, JSONValue)]) -> Void {
        { config in
            if let i = config.firstIndex(where: { $0.0 == key }) { config[i].1 = value } else { config.append((key, value)) }
        }
    }

    func apply(_ url: URL) throws { _ = try LoRAApplier(base: base.weights, adapterDirectory: url) }

    func testCopiedFixtureAppliesCleanly() throws {
        XCTAssertNoThrow(try apply(try adapter()))
    }

    func testMissingDirectoryAndFiles() throws {
        let none = dir.appendingPathComponent("nope")
        assertRecallError([none.path, "no such adapter directory"]) { try apply(none) }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertRecallError([empty.path, "missing adapter_config.json"]) { try apply(empty) }
        try FileManager.default.copyItem(at: Fixtures.url("lora/plain/adapter_config.json"), to: empty.appendingPathComponent("adapter_config.json"))
        assertRecallError([empty.path, "missing adapter_model.safetensors"]) { try apply(empty) }
        try Data([0x80, 0x02]).write(to: empty.appendingPathComponent("adapter_model.bin"))
        assertRecallError([empty.path, "adapter_model.bin", "safe_serialization"]) { try apply(empty) }
    }

    func testNotJSONConfig() throws {
        let url = try adapter()
        try Data("{r: 4".utf8).write(to: url.appendingPathComponent("adapter_config.json"))
        assertRecallError(["adapter_config.json", "not valid JSON"]) { try apply(url) }
    }

    func testDoRA() throws {
        let url = try adapter(config: set("use_dora", .bool(true)))
        assertRecallError(["adapter_config.json", "DoRA adapters are not supported"]) { try apply(url) }
        let withVector = try adapter(tensors: { views in
            views + [TensorView(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", shape: [16], float32: [Float](repeating: 1, count: 16))]
        })
        assertRecallError(["adapter_model.safetensors", "DoRA adapters are not supported", "lora_magnitude_vector"]) { try apply(withVector) }
    }

    func testOtherPEFTType() throws {
        let url = try adapter(config: set("peft_type", .string("IA3")))
        assertRecallError(["adapter_config.json", "peft_type \"IA3\" is not supported (only LORA)"]) { try apply(url) }
        let missing = try adapter(tensors: { _ in [] })
        try Data("{\"r\": 4}".utf8).write(to: missing.appendingPathComponent("adapter_config.json"))
        assertRecallError(["adapter_config.json", "missing string field peft_type"]) { try apply(missing) }
    }

    func testOtherUnsupportedOptions() throws {
        assertRecallError(["lora_bias"]) { try apply(try adapter(config: set("lora_bias", .bool(true)))) }
        assertRecallError(["layer_replication"]) { try apply(try adapter(config: set("layer_replication", .array([.array([.int(0), .int(1)])])))) }
        assertRecallError(["field r must be a positive integer"]) { try apply(try adapter(config: set("r", .int(0)))) }
        assertRecallError(["pattern key \"q_proj(\"", "not a valid regular expression"]) {
            try apply(try adapter(config: set("rank_pattern", .object([("q_proj(", .int(2))]))))
        }
    }

    func testModuleMissingInBase() throws {
        let url = try adapter(tensors: { views in
            views.map { $0.renamed($0.name.replacingOccurrences(of: "layers.1.", with: "layers.7.")) }
        })
        assertRecallError([url.path, "module model.layers.7.self_attn.q_proj", "no tensor \"model.layers.7.self_attn.q_proj.weight\"", "another model"]) {
            try apply(url)
        }
        let saved = try adapter(tensors: { views in
            views + [TensorView(name: "base_model.model.score.weight", shape: [2, 16], float32: [Float](repeating: 0, count: 32))]
        })
        assertRecallError([saved.path, "base_model.model.score.weight", "no tensor \"score.weight\""]) { try apply(saved) }
    }

    func testShapeMismatch() throws {
        let url = try adapter(tensors: { views in
            views.map { v in
                guard v.name == "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight" else { return v }
                return TensorView(name: v.name, shape: [12, 4], float32: [Float](repeating: 0.1, count: 48))
            }
        })
        assertRecallError([url.path, "module model.layers.0.self_attn.v_proj", "\"model.layers.0.self_attn.v_proj.weight\"",
                           "shape [8, 16]", "lora_A [4, 16]", "lora_B [12, 4]", "need [12, 16]"]) { try apply(url) }
        let lmHead = try adapter(from: "modules-to-save", tensors: { views in
            views.map { v in
                v.name == "base_model.model.lm_head.weight" ? TensorView(name: v.name, shape: [65, 16], float32: [Float](repeating: 0, count: 65 * 16)) : v
            }
        })
        assertRecallError([lmHead.path, "\"base_model.model.lm_head.weight\" has shape [65, 16]", "\"lm_head.weight\" has [64, 16]"]) { try apply(lmHead) }
    }

    func testRankDisagreements() throws {
        let url = try adapter(config: set("r", .int(8)))
        assertRecallError(["adapter_model.safetensors", "module model.layers.0.self_attn.q_proj has rank 4", "r = 8"]) { try apply(url) }
        let bad = try adapter(tensors: { views in
            views.map { v in
                guard v.name == "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight" else { return v }
                return TensorView(name: v.name, shape: [16, 3], float32: [Float](repeating: 0, count: 48))
            }
        })
        assertRecallError(["module model.layers.0.self_attn.q_proj", "lora_A is [4, 16] but lora_B is [16, 3]"]) { try apply(bad) }
    }

    func testHalfAModule() throws {
        let url = try adapter(tensors: { views in views.filter { !$0.name.hasSuffix("layers.1.self_attn.v_proj.lora_A.weight") } })
        assertRecallError(["module model.layers.1.self_attn.v_proj has lora_B but no lora_A"]) { try apply(url) }
    }

    func testForeignTensorNames() throws {
        let url = try adapter(tensors: { views in views + [TensorView(name: "transformer.h.0.weight", shape: [1], float32: [0])] })
        assertRecallError(["tensor \"transformer.h.0.weight\" does not start with base_model.model."]) { try apply(url) }
    }

    func testFullModelDirectoryIsNotAnAdapter() throws {
        assertRecallError(["hf-tiny-llama-sharded", "missing adapter_config.json"]) {
            _ = try LoRAAdapter(directory: Fixtures.url("hf-tiny-llama-sharded"))
        }
    }
}
