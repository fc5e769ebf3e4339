import XCTest
@testable import RecallTensor
@testable import RecallModel
import RecallTestSupport

/// GGUF -> HF directory, checked against transformers' own GGUF loader (Fixtures/gguf/tiny-llama*,
/// written by tools/gen_gguf_fixtures.py) and against hand-built files for the error cases.
final class GGUFImportTests: XCTestCase {
    static let expected: JSONValue = {
        try! JSONValue.parse(Data(contentsOf: Fixtures.url("gguf/expected.json")))["tiny_llama"]!
    }()

    func importTiny(_ name: String = "tiny-llama.gguf", dtype: DType = .f32) throws -> URL {
        let out = try makeTempDirectory(self).appendingPathComponent("model")
        try GGUFImporter.importModel(gguf: Fixtures.url("gguf/\(name)"), to: out, dtype: dtype)
        return out
    }

    func testWeightsEqualTransformersGGUFLoad() throws {
        let out = try importTiny()
        let ckpt = try Checkpoint.open(out)
        let golden = try SafeTensorsFile(url: Fixtures.url("gguf/tiny-llama.expected.safetensors"))
        XCTAssertEqual(Set(ckpt.weights.tensorNames), Set(golden.tensorNames))
        for name in golden.tensorNames {
            let got = try ckpt.weights.tensor(named: name)
            let want = try golden.tensor(named: name)
            XCTAssertEqual(got.dtype, .f32, name)
            XCTAssertEqual(got.shape, want.shape, name)
            XCTAssertEqual(try got.toFloat32().map(\.bitPattern), try want.toFloat32().map(\.bitPattern), name)
        }
    }

    func testConfigMatchesTransformers() throws {
        let out = try importTiny()
        let exp = Self.expected["config"]!
        let config = try ModelConfig.load(from: out.appendingPathComponent("config.json"))
        XCTAssertEqual(config.modelType, exp["model_type"]?.stringValue)
        XCTAssertEqual(config.hiddenSize, exp["hidden_size"]?.intValue)
        XCTAssertEqual(config.intermediateSize, exp["intermediate_size"]?.intValue)
        XCTAssertEqual(config.numHiddenLayers, exp["num_hidden_layers"]?.intValue)
        XCTAssertEqual(config.numAttentionHeads, exp["num_attention_heads"]?.intValue)
        XCTAssertEqual(config.numKeyValueHeads, exp["num_key_value_heads"]?.intValue)
        XCTAssertEqual(config.headDim, exp["head_dim"]?.intValue)
        XCTAssertEqual(config.maxPositionEmbeddings, exp["max_position_embeddings"]?.intValue)
        XCTAssertEqual(Float(config.rmsNormEps), Float(exp["rms_norm_eps"]!.doubleValue!))
        XCTAssertEqual(config.ropeTheta, exp["rope_theta"]?.doubleValue)
        XCTAssertEqual(config.vocabSize, exp["vocab_size"]?.intValue)
        XCTAssertEqual(config.tieWordEmbeddings, exp["tie_word_embeddings"]?.boolValue)
        XCTAssertEqual(config.bosTokenID, exp["bos_token_id"]?.intValue)
        XCTAssertEqual(config.eosTokenIDs, [exp["eos_token_id"]!.intValue!])
        XCTAssertEqual(config.dtypeName, "float32")
        let gen = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("generation_config.json")))
        XCTAssertEqual(gen["eos_token_id"]?.intValue, 2)
    }

    func testTokenizerGivesReferenceIDs() throws {
        let out = try importTiny()
        let tok = try Tokenizer(directory: out)
        XCTAssertEqual(tok.vocabularySize, Self.expected["vocab_size"]?.intValue)
        for item in Self.expected["corpus"]!.arrayValue! {
            let text = item["text"]!.stringValue!
            let want = item["ids"]!.arrayValue!.map { $0.intValue! }
            XCTAssertEqual(tok.encode(text, addSpecialTokens: false), want, "ids of \(text.debugDescription)")
            XCTAssertEqual(tok.encode(text, addSpecialTokens: true), item["transformers_ids_special"]!.arrayValue!.map { $0.intValue! },
                           "ids with specials of \(text.debugDescription)")
            XCTAssertEqual(tok.decode(want), item["decoded"]?.stringValue, "decode of \(text.debugDescription)")
        }
        let json = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("tokenizer.json")))
        XCTAssertEqual(json["pre_tokenizer"], try JSONValue.parse(Data(Self.expected["reference_tokenizer_pre_tokenizer"]!.serialized().utf8)))
        let added = json["added_tokens"]!.arrayValue!
        XCTAssertEqual(added.filter { $0["special"]?.boolValue == true }.map { $0["content"]!.stringValue! },
                       Self.expected["special_tokens"]!.arrayValue!.map { $0.stringValue! })
        XCTAssertEqual(added.filter { $0["special"]?.boolValue == false }.map { $0["content"]!.stringValue! }, ["<think>"])
    }

    func testTokenizerConfigCarriesTemplateAndSpecialTokens() throws {
        let out = try importTiny()
        let config = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("tokenizer_config.json")))
        let gguf = try GGUFFile(url: Fixtures.url("gguf/tiny-llama.gguf"))
        XCTAssertEqual(config["chat_template"]?.stringValue, gguf["tokenizer.chat_template"]?.stringValue)
        XCTAssertEqual(config["bos_token"]?.stringValue, Self.expected["bos_token"]?.stringValue)
        XCTAssertEqual(config["eos_token"]?.stringValue, Self.expected["eos_token"]?.stringValue)
        XCTAssertEqual(config["pad_token"]?.stringValue, Self.expected["pad_token"]?.stringValue)
        XCTAssertEqual(config["unk_token"]?.stringValue, Self.expected["unk_token"]?.stringValue)
        XCTAssertEqual(config["add_bos_token"]?.boolValue, false)
        XCTAssertEqual(config["model_max_length"]?.intValue, 256)
    }

    func testTiedEmbeddings() throws {
        let out = try importTiny("tiny-llama-tied.gguf")
        let ckpt = try Checkpoint.open(out)
        XCTAssertNil(ckpt.weights.info(named: "lm_head.weight"))
        XCTAssertTrue(try ckpt.modelConfig().tieWordEmbeddings)
        let golden = try SafeTensorsFile(url: Fixtures.url("gguf/tiny-llama.expected.safetensors"))
        XCTAssertEqual(Set(ckpt.weights.tensorNames), Set(golden.tensorNames).subtracting(["lm_head.weight"]))
        for name in ckpt.weights.tensorNames {
            XCTAssertEqual(try ckpt.weights.tensor(named: name).toFloat32(), try golden.tensor(named: name).toFloat32(), name)
        }
    }

    func testBF16ImportRoundsOnce() throws {
        let out = try importTiny(dtype: .bf16)
        let ckpt = try Checkpoint.open(out)
        XCTAssertEqual(try ckpt.modelConfig().dtypeName, "bfloat16")
        let golden = try SafeTensorsFile(url: Fixtures.url("gguf/tiny-llama.expected.safetensors"))
        for name in golden.tensorNames {
            let got = try ckpt.weights.tensor(named: name)
            XCTAssertEqual(got.dtype, .bf16)
            XCTAssertEqual(got.copyBytes(), try golden.tensor(named: name).converted(to: .bf16).copyBytes(), name)
        }
    }

    func testSourceKeepsHalfTensorsAndStreams() throws {
        let model = try GGUFLlamaModel(url: Fixtures.url("gguf/tiny-llama.gguf"))
        XCTAssertEqual(model.infos.first?.name, "model.embed_tokens.weight")
        XCTAssertEqual(model.infos.last?.name, "lm_head.weight")
        XCTAssertEqual(model.info(named: "model.layers.0.mlp.up_proj.weight")?.dtype, .f16)
        XCTAssertEqual(model.info(named: "model.layers.0.mlp.down_proj.weight")?.dtype, .bf16)
        XCTAssertEqual(model.info(named: "model.layers.1.self_attn.v_proj.weight")?.dtype, .f16)
        XCTAssertEqual(model.info(named: "model.layers.0.self_attn.q_proj.weight")?.dtype, .f32)
        XCTAssertEqual(model.hyperparameters.numKeyValueHeads, 2)
        XCTAssertEqual(model.ggufTensor(for: "lm_head.weight")?.name, "output.weight")
        let up = try model.tensor(named: "model.layers.0.mlp.up_proj.weight")
        XCTAssertEqual(up.shape, [64, 32])
    }

    // MARK: Hand-built llama files

    /// A complete 1-layer llama GGUF of F32 tensors (hidden 4, 2 heads of 2, 1 kv head, ffn 4,
    /// 6 tokens) whose values are `tensorIndex * 100 + elementIndex`.
    func llamaGGUF(arch: String = "llama", drop: String? = nil, extra: String? = nil, badShape: String? = nil,
                   qType: (String, UInt32)? = nil, tokenizerModel: String = "gpt2", pre: String = "smollm",
                   qRows: [Float]? = nil, hidden h: UInt64 = 4) throws -> URL {
        var tensors: [(String, [UInt64])] = [
            ("token_embd.weight", [h, 6]), ("blk.0.attn_norm.weight", [h]), ("blk.0.attn_q.weight", [h, h]),
            ("blk.0.attn_k.weight", [h, h / 2]), ("blk.0.attn_v.weight", [h, h / 2]), ("blk.0.attn_output.weight", [h, h]),
            ("blk.0.ffn_norm.weight", [h]), ("blk.0.ffn_gate.weight", [h, h]), ("blk.0.ffn_up.weight", [h, h]),
            ("blk.0.ffn_down.weight", [h, h]), ("output_norm.weight", [h]),
        ]
        if let drop { tensors.removeAll { $0.0 == drop } }
        if let extra { tensors.append((extra, [h])) }
        if let badShape, let i = tensors.firstIndex(where: { $0.0 == badShape }) { tensors[i].1 = [h, h + 1] }
        var b = GGUFBuilder(tensors: UInt64(tensors.count), kvs: 17)
        b.kvString("general.architecture", arch)
        b.kvU32("llama.embedding_length", UInt32(h)); b.kvU32("llama.block_count", 1); b.kvU32("llama.feed_forward_length", UInt32(h))
        b.kvU32("llama.attention.head_count", 2); b.kvU32("llama.attention.head_count_kv", 1)
        b.kvU32("llama.context_length", 16); b.kvF32("llama.rope.freq_base", 10000); b.kvF32("llama.attention.layer_norm_rms_epsilon", 1e-6)
        b.kvString("tokenizer.ggml.model", tokenizerModel); b.kvString("tokenizer.ggml.pre", pre)
        b.kvStrings("tokenizer.ggml.tokens", ["a", "b", "c", "ab", "<s>", "</s>"])
        b.kvI32s("tokenizer.ggml.token_type", [1, 1, 1, 1, 3, 3])
        b.kvStrings("tokenizer.ggml.merges", ["a b"])
        b.kvU32("tokenizer.ggml.bos_token_id", 4); b.kvU32("tokenizer.ggml.eos_token_id", 5)
        b.kvU32("llama.rope.dimension_count", UInt32(h / 2))
        var offset: UInt64 = 0
        var sizes: [Int] = []
        for (name, dims) in tensors {
            var type: UInt32 = 0
            var count = Int(dims.reduce(1, *))
            var bytes = count * 4
            if let (qName, qt) = qType, qName == name {
                type = qt
                count = Int(dims.reduce(1, *))
                bytes = count / 32 * 18   // IQ4_NL / Q4_0 blocks
            }
            b.tensorInfo(name, dims: dims, type: type, offset: offset)
            sizes.append(bytes)
            offset += UInt64((bytes + 31) / 32 * 32)
        }
        b.pad()
        for (k, (name, _)) in tensors.enumerated() {
            let n = sizes[k] / 4
            if name == "blk.0.attn_q.weight", let qRows { for v in qRows { b.f32(v) } } else {
                for e in 0..<n { b.f32(Float(k * 100 + e)) }
            }
            if sizes[k] % 4 != 0 { b.bytes += [UInt8](repeating: 0, count: sizes[k] % 4) }
            b.pad()
        }
        return try b.write(try makeTempDirectory(self), "llama.gguf")
    }

    func testHandBuiltLlamaImports() throws {
        let url = try llamaGGUF()
        let out = try makeTempDirectory(self).appendingPathComponent("m")
        try GGUFImporter.importModel(gguf: url, to: out, dtype: .f32)
        let ckpt = try Checkpoint.open(out)
        XCTAssertEqual(ckpt.weights.infos.count, 11)
        XCTAssertEqual(try ckpt.modelConfig().numKeyValueHeads, 1)
        XCTAssertEqual(try ckpt.modelConfig().headDim, 2)
        let tok = try Tokenizer(directory: out)
        XCTAssertEqual(tok.encode("abc", addSpecialTokens: false), [3, 2])
    }

    /// `smollm` (digits-first) by default splits every numeral before BPE, as llama.cpp does; the
    /// transformers reading keeps only byte-level BPE, as transformers' GGUF conversion does.
    func testTokenizerCompatibilityChoosesTheDigitSplit() throws {
        let url = try llamaGGUF()
        func preTokenizer(_ c: GGUFTokenizerBuilder.Compatibility) throws -> JSONValue {
            let out = try makeTempDirectory(self).appendingPathComponent(c.rawValue)
            try GGUFImporter.importModel(gguf: url, to: out, dtype: .f32, maxShardBytes: nil, tokenizer: c)
            return try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("tokenizer.json")))["pre_tokenizer"]!
        }
        let cpp = try preTokenizer(.llamaCpp), hf = try preTokenizer(.transformers)
        XCTAssertEqual(cpp["type"]?.stringValue, "Sequence")
        XCTAssertEqual(cpp["pretokenizers"]?.arrayValue?.first?["type"]?.stringValue, "Digits")
        XCTAssertEqual(hf["type"]?.stringValue, "ByteLevel")
    }

    /// llama.cpp stores head h's rows as (i, j) pairs: GGUF row h*D + 2i + j is HF row h*D + j*D/2 + i.
    func testQueryRowPermutationIsUndone() throws {
        // Through the model, with head_dim 2 (D/2 = 1) the permutation is the identity.
        let rows: [[Float]] = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]]
        let model = try GGUFLlamaModel(url: try llamaGGUF(qRows: rows.flatMap { $0 }))
        XCTAssertEqual(try model.tensor(named: "model.layers.0.self_attn.q_proj.weight").toFloat32(), rows.flatMap { $0 })
        // (The tiny-llama fixture checks real heads of 8 for Q and K against transformers.)

        // One head of 4 rows: HF rows 0..3 come from GGUF rows [0, 2, 1, 3].
        let storage = TensorStorage(byteCount: 16 * 4)
        let p = storage.pointer.assumingMemoryBound(to: Float.self)
        for r in 0..<4 { for c in 0..<4 { p[r * 4 + c] = Float(r) } }
        GGUFLlamaModel.unpermuteRows(storage, rows: 4, heads: 1, elementSize: 4, elements: 16)
        XCTAssertEqual((0..<4).map { p[$0 * 4] }, [0, 2, 1, 3])
        // Two heads of 4: each head independently.
        let s2 = TensorStorage(byteCount: 8 * 4)
        let p2 = s2.pointer.assumingMemoryBound(to: Float.self)
        for r in 0..<8 { p2[r] = Float(r) }
        GGUFLlamaModel.unpermuteRows(s2, rows: 8, heads: 2, elementSize: 4, elements: 8)
        XCTAssertEqual((0..<8).map { p2[$0] }, [0, 2, 1, 3, 4, 6, 5, 7])
        // head_dim 6: GGUF rows 0..5 = (i, j) = (0,0) (0,1) (1,0) (1,1) (2,0) (2,1) -> HF j*3 + i.
        let s3 = TensorStorage(byteCount: 6 * 4)
        let p3 = s3.pointer.assumingMemoryBound(to: Float.self)
        for r in 0..<6 { p3[r] = Float(r) }
        GGUFLlamaModel.unpermuteRows(s3, rows: 6, heads: 1, elementSize: 4, elements: 6)
        // HF row k holds GGUF row 2i + j where k = j*3 + i.
        XCTAssertEqual((0..<6).map { p3[$0] }, [0, 2, 4, 1, 3, 5])
    }

    func testWrongArchitecture() throws {
        let url = try llamaGGUF(arch: "gemma")
        assertRecallError([url.path, "general.architecture \"gemma\" is not supported"]) { _ = try GGUFLlamaModel(url: url) }
        assertRecallError(["general.architecture \"quanttest\""]) { _ = try GGUFLlamaModel(url: Fixtures.url("gguf/quants.gguf")) }
    }

    func testUnknownAndMissingTensors() throws {
        let extra = try llamaGGUF(extra: "blk.0.mystery.weight")
        assertRecallError([extra.path, "tensor \"blk.0.mystery.weight\"", "no LlamaForCausalLM equivalent"]) { _ = try GGUFLlamaModel(url: extra) }
        let missing = try llamaGGUF(drop: "blk.0.ffn_up.weight")
        assertRecallError([missing.path, "missing tensor blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight"]) { _ = try GGUFLlamaModel(url: missing) }
        let rope = try llamaGGUF(extra: "rope_freqs.weight")
        assertRecallError([rope.path, "rope_freqs.weight", "not supported"]) { _ = try GGUFLlamaModel(url: rope) }
    }

    func testShapeMismatch() throws {
        let url = try llamaGGUF(badShape: "blk.0.ffn_gate.weight")
        assertRecallError([url.path, "tensor \"blk.0.ffn_gate.weight\"", "shape [5, 4]", "imply [4, 4]"]) { _ = try GGUFLlamaModel(url: url) }
        let out = try makeTempDirectory(self)
        assertRecallError([url.path, "shape [5, 4]"]) { try GGUFImporter.importModel(gguf: url, to: out, dtype: .bf16) }
    }

    func testUnsupportedTokenizers() throws {
        let sp = try llamaGGUF(tokenizerModel: "llama")
        let out = try makeTempDirectory(self).appendingPathComponent("m")
        assertRecallError([sp.path, "tokenizer.ggml.model \"llama\" is not supported"]) {
            try GGUFImporter.importModel(gguf: sp, to: out, dtype: .f32)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path), "nothing written before the check")
        let pre = try llamaGGUF(pre: "mystery-bpe")
        assertRecallError([pre.path, "tokenizer.ggml.pre \"mystery-bpe\" is not supported", "smollm"]) {
            try GGUFImporter.importModel(gguf: pre, to: out, dtype: .f32)
        }
    }

    func testUnsupportedQuantTypeStopsImportBeforeWriting() throws {
        // IQ4_NL (type 20) blocks hold 32 values: a hidden size of 32 gives whole rows.
        let url = try llamaGGUF(qType: ("blk.0.ffn_up.weight", 20), hidden: 32)
        let out = try makeTempDirectory(self).appendingPathComponent("m")
        assertRecallError([url.path, "tensor \"blk.0.ffn_up.weight\"", "IQ4_NL", "cannot be dequantised"]) {
            try GGUFImporter.importModel(gguf: url, to: out, dtype: .f32)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        // The rest of the file is fine.
        let model = try GGUFLlamaModel(url: url)
        XCTAssertEqual(try model.tensor(named: "model.layers.0.mlp.gate_proj.weight").shape, [32, 32])
    }

    func testImportRejectsNonFloatDType() throws {
        assertRecallError(["dtype must be f32, f16 or bf16", "I8"]) {
            try GGUFImporter.importModel(gguf: Fixtures.url("gguf/tiny-llama.gguf"), to: try makeTempDirectory(self), dtype: .i8)
        }
    }
}
