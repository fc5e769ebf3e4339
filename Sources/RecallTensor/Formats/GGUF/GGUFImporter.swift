import Foundation

/// Imports a llama-architecture GGUF into an HF model directory that
/// `transformers.from_pretrained` loads: `model.safetensors` (or shards), `config.json`,
/// `generation_config.json`, `tokenizer.json`, `tokenizer_config.json`,
/// `special_tokens_map.json`.
///
/// Streaming: tensors are dequantised one at a time as the writer asks for them, so peak memory
/// is about one F32 tensor beyond the mapped file. Everything that can fail on the input
/// (architecture, shapes, tensor types, tokenizer) is checked before the first byte is written.
public enum GGUFImporter {
    /// Writes the HF directory for `gguf` into `dir` (created if needed), float tensors as `dtype`
    /// (F32, F16 or BF16).
    public static func importModel(gguf: URL, to dir: URL, dtype: DType) throws {
        try importModel(gguf: gguf, to: dir, dtype: dtype, maxShardBytes: nil)
    }

    /// As `importModel(gguf:to:dtype:)`, sharding the weights at `maxShardBytes` when given.
    public static func importModel(gguf: URL, to dir: URL, dtype: DType, maxShardBytes: Int?,
                                   tokenizer compatibility: GGUFTokenizerBuilder.Compatibility = .llamaCpp) throws {
        guard dtype.isComputeFloat else {
            throw RecallError(.invalidArgument, "import dtype must be f32, f16 or bf16 (got \(dtype.rawValue))")
        }
        let model = try GGUFLlamaModel(url: gguf)
        try model.checkDequantizable()
        let tokenizer = try GGUFTokenizerBuilder.build(from: model.file, modelMaxLength: model.hyperparameters.maxPositionEmbeddings,
                                                       compatibility: compatibility)
        let config = model.configJSON(bosTokenID: tokenizer.bosTokenID, eosTokenID: tokenizer.eosTokenID, padTokenID: tokenizer.padTokenID)

        let writer = CheckpointWriter(dtype: dtype, maxShardBytes: maxShardBytes,
                                      metadata: ["source": "gguf", "source_file": gguf.lastPathComponent])
        try writer.writeDirectory(infos: model.infos, configJSON: config, sidecars: [], to: dir, tensor: model.tensor(named:))

        var generation: [(String, JSONValue)] = [("_from_model_config", .bool(true))]
        if let b = tokenizer.bosTokenID { generation.append(("bos_token_id", .int(b))) }
        if let e = tokenizer.eosTokenID { generation.append(("eos_token_id", .int(e))) }
        if let p = tokenizer.padTokenID { generation.append(("pad_token_id", .int(p))) }
        let files: [(String, JSONValue)] = [
            ("tokenizer.json", tokenizer.tokenizerJSON),
            ("tokenizer_config.json", tokenizer.tokenizerConfigJSON),
            ("special_tokens_map.json", tokenizer.specialTokensMapJSON),
            ("generation_config.json", .object(generation)),
        ]
        for (name, json) in files {
            try AtomicFileWriter.write(Array((json.serialized(pretty: true) + "\n").utf8), to: dir.appendingPathComponent(name))
        }
    }
}
