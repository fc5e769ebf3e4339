import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// LoRA merges against PEFT's `merge_and_unload()` (Fixtures/lora, written by
/// tools/gen_lora_fixtures.py): changed tensors within 1e-5 in F32 and one BF16 ulp in BF16,
/// every other tensor passed through untouched.
final class LoRAFixtureTests: XCTestCase {
    static let expected: JSONValue = {
        try! JSONValue.parse(Data(contentsOf: Fixtures.url("lora/expected.json")))["variants"]!
    }()

    /// BF16 values as ordered integers, so adjacent representable values differ by 1.
    func bf16Ordinal(_ bits: UInt16) -> Int {
        bits & 0x8000 != 0 ? -Int(bits & 0x7FFF) : Int(bits)
    }

    func check(_ variant: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let exp = Self.expected[variant]!
        let baseName = exp["base"]!.stringValue!
        let base = try Checkpoint.open(Fixtures.url(baseName))
        let applier = try LoRAApplier(base: base.weights, adapterDirectory: Fixtures.url("lora/\(variant)"))
        let golden = try SafeTensorsFile(url: Fixtures.url("lora/\(variant)/expected.safetensors"))
        XCTAssertEqual(applier.changedTensorNames, exp["changed"]!.arrayValue!.map { $0.stringValue! }, variant, file: file, line: line)
        XCTAssertEqual(Set(golden.tensorNames), Set(applier.changedTensorNames), file: file, line: line)
        XCTAssertEqual(applier.infos, base.weights.infos, file: file, line: line)
        for info in base.weights.infos {
            let got = try applier.tensor(named: info.name)
            XCTAssertEqual(got.info, info, "\(variant) \(info.name)", file: file, line: line)
            guard golden.info(named: info.name) != nil else {
                let orig = try base.weights.tensor(named: info.name)
                XCTAssertEqual(got.bytes.baseAddress, orig.bytes.baseAddress, "\(variant) \(info.name) must be passed through without a copy", file: file, line: line)
                continue
            }
            let want = try golden.tensor(named: info.name)
            XCTAssertEqual(want.dtype, info.dtype, file: file, line: line)
            if info.dtype == .bf16 {
                let g = got.copyBytes(), w = want.copyBytes()
                var worst = 0
                for i in stride(from: 0, to: g.count, by: 2) {
                    let a = bf16Ordinal(UInt16(g[i]) | UInt16(g[i + 1]) << 8), b = bf16Ordinal(UInt16(w[i]) | UInt16(w[i + 1]) << 8)
                    worst = max(worst, abs(a - b))
                }
                XCTAssertLessThanOrEqual(worst, 1, "\(variant) \(info.name): \(worst) BF16 ulps from PEFT", file: file, line: line)
            } else {
                let g = try got.toFloat32(), w = try want.toFloat32()
                let diff = zip(g, w).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(diff, 1e-5, "\(variant) \(info.name): max abs diff \(diff) from PEFT", file: file, line: line)
            }
        }
    }

    func testPlain() throws { try check("plain") }
    func testRSLoRA() throws { try check("rslora") }
    func testModulesToSave() throws { try check("modules-to-save") }
    func testRankAndAlphaPatternsAndEmbedding() throws { try check("patterns") }
    func testBF16BaseWithinOneUlp() throws { try check("bf16") }

    func testScalingRules() throws {
        let plain = try LoRAAdapter(directory: Fixtures.url("lora/plain"))
        XCTAssertEqual(plain.modules.count, 4)
        XCTAssertEqual(plain.modules.map(\.scaling), [2, 2, 2, 2])
        XCTAssertEqual(plain.modules.first?.target, "model.layers.0.self_attn.q_proj.weight")
        let rs = try LoRAAdapter(directory: Fixtures.url("lora/rslora"))
        XCTAssertTrue(rs.config.useRSLoRA)
        XCTAssertEqual(Set(rs.modules.map(\.scaling)), [4])   // 8 / sqrt(4)
        XCTAssertEqual(rs.modules.count, 14)
        let pat = try LoRAAdapter(directory: Fixtures.url("lora/patterns"))
        XCTAssertEqual(pat.config.rank(for: "model.layers.0.self_attn.v_proj"), 2)
        XCTAssertEqual(pat.config.rank(for: "model.layers.0.self_attn.q_proj"), 4)
        XCTAssertEqual(pat.config.alpha(for: "model.layers.1.self_attn.q_proj"), 16)
        XCTAssertEqual(pat.config.alpha(for: "model.layers.0.self_attn.q_proj"), 8)
        XCTAssertEqual(pat.config.alpha(for: "model.layers.11.self_attn.q_proj"), 8)
        let byModule = Dictionary(uniqueKeysWithValues: pat.modules.map { ($0.module, $0) })
        XCTAssertEqual(byModule["model.layers.0.self_attn.v_proj"]?.scaling, 4)    // 8 / 2
        XCTAssertEqual(byModule["model.layers.1.self_attn.q_proj"]?.scaling, 4)    // 16 / 4
        XCTAssertEqual(byModule["model.embed_tokens"]?.layout, .transposed)
        XCTAssertEqual(pat.replacements.map(\.target), ["model.embed_tokens.weight"])
        let mts = try LoRAAdapter(directory: Fixtures.url("lora/modules-to-save"))
        XCTAssertEqual(mts.config.modulesToSave, ["lm_head"])
        XCTAssertEqual(mts.replacements.map(\.target), ["lm_head.weight"])
    }

    func testApplyWritesALoadableDirectory() throws {
        let out = try makeTempDirectory(self).appendingPathComponent("merged")
        try LoRAApplier.apply(base: Fixtures.url("hf-tiny-llama-sharded"), adapter: Fixtures.url("lora/modules-to-save"), to: out)
        let merged = try Checkpoint.open(out)
        XCTAssertEqual(try merged.modelConfig().hiddenSize, 16)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("generation_config.json").path))
        let golden = try SafeTensorsFile(url: Fixtures.url("lora/modules-to-save/expected.safetensors"))
        let base = try Checkpoint.open(Fixtures.url("hf-tiny-llama-sharded"))
        for info in base.weights.infos {
            let got = try merged.weights.tensor(named: info.name).toFloat32()
            let want = try (golden.info(named: info.name) != nil ? golden.tensor(named: info.name) : base.weights.tensor(named: info.name)).toFloat32()
            let diff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(diff, 1e-5, info.name)
        }
        XCTAssertEqual(merged.weights.metadata.first { $0.0 == "lora_adapter" }?.1, "modules-to-save")
    }

    func testApplyWithDTypeConversion() throws {
        let out = try makeTempDirectory(self).appendingPathComponent("merged")
        try LoRAApplier.apply(base: Fixtures.url("hf-tiny-llama-sharded"), adapter: Fixtures.url("lora/plain"), to: out, dtype: .bf16)
        let merged = try Checkpoint.open(out)
        XCTAssertEqual(try merged.modelConfig().dtypeName, "bfloat16")
        let golden = try SafeTensorsFile(url: Fixtures.url("lora/plain/expected.safetensors"))
        let q = try merged.weights.tensor(named: "model.layers.0.self_attn.q_proj.weight")
        XCTAssertEqual(q.dtype, .bf16)
        let want = try golden.tensor(named: "model.layers.0.self_attn.q_proj.weight").converted(to: .bf16).copyBytes()
        let got = q.copyBytes()
        var worst = 0
        for i in stride(from: 0, to: got.count, by: 2) {
            worst = max(worst, abs(bf16Ordinal(UInt16(got[i]) | UInt16(got[i + 1]) << 8) - bf16Ordinal(UInt16(want[i]) | UInt16(want[i + 1]) << 8)))
        }
        XCTAssertLessThanOrEqual(worst, 1)
    }

    func testApplyRefusesToOverwriteItsBase() throws {
        assertRecallError(["must not be the base checkpoint"]) {
            try LoRAApplier.apply(base: Fixtures.url("hf-tiny-llama-sharded"), adapter: Fixtures.url("lora/plain"), to: Fixtures.url("hf-tiny-llama-sharded"))
        }
    }
}
