import ArgumentParser
import Foundation
import RecallTensor
import RecallModel

extension GGUFTokenizerBuilder.Compatibility: ExpressibleByArgument {}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a GGUF model (llama architecture) as an HF directory.",
        discussion: "Dequantises F32/F16/BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; rebuilds config.json, tokenizer.json and tokenizer_config.json (with the chat template)."
    )

    @Argument(help: "The .gguf file.")
    var gguf: String

    @Argument(help: "Output directory (must be empty or absent).")
    var out: String

    @Option(help: "Float dtype of the written weights (f32, f16, bf16).")
    var dtype: DType = .bf16

    @Option(name: .customLong("shard-size"), help: "Shard the weights (e.g. 2GB).")
    var shardSize: String?

    @Option(help: "Tokenizer to rebuild: llama.cpp (default; as llama.cpp and the model's original tokenizer) or transformers (as transformers' GGUF loading, which drops the digit split of smollm/starcoder-style tokenizers, so numerals like ½ tokenize differently).")
    var tokenizer: GGUFTokenizerBuilder.Compatibility = .llamaCpp

    @Flag(help: "Overwrite OUT if it is not empty.")
    var force = false

    func validate() throws {
        guard dtype.isComputeFloat else { throw ValidationError("--dtype must be f32, f16 or bf16") }
        if let shardSize, parseByteSize(shardSize) == nil { throw ValidationError("--shard-size '\(shardSize)' is not a size") }
    }

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: force)
            try GGUFImporter.importModel(gguf: URL(fileURLWithPath: gguf), to: outURL, dtype: dtype, maxShardBytes: shardSize.flatMap(parseByteSize),
                                         tokenizer: tokenizer)
            print("imported \(gguf) into \(out)")
        }
    }
}

struct ApplyLoRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-lora",
        abstract: "Merge a PEFT LoRA adapter into its base: W' = W + scale * B @ A, written as an HF directory."
    )

    @Argument(help: "The base model (HF directory or checkpoint).")
    var base: String

    @Argument(help: "The PEFT adapter directory (adapter_config.json + adapter_model.safetensors).")
    var adapter: String

    @Argument(help: "Output directory (must be empty or absent).")
    var out: String

    @Option(help: "Float dtype of the written weights (default: the base's).")
    var dtype: DType?

    @Flag(help: "Overwrite OUT if it is not empty.")
    var force = false

    func validate() throws {
        if let dtype, !dtype.isComputeFloat { throw ValidationError("--dtype must be f32, f16 or bf16") }
    }

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: force)
            try LoRAApplier.apply(base: URL(fileURLWithPath: base), adapter: URL(fileURLWithPath: adapter), to: outURL, dtype: dtype)
            print("applied \(adapter) to \(base) into \(out)")
        }
    }
}
