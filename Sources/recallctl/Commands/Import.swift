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

    /// --dtype defaults to bf16 here.
    @OptionGroup var writing: OutputOptions

    @Option(help: "Tokenizer to rebuild: llama.cpp (default; as llama.cpp and the model's original tokenizer) or transformers (as transformers' GGUF loading, which drops the digit split of smollm/starcoder-style tokenizers, so numerals like ½ tokenize differently).")
    var tokenizer: GGUFTokenizerBuilder.Compatibility = .llamaCpp

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: writing.force)
            try GGUFImporter.importModel(gguf: URL(fileURLWithPath: gguf), to: outURL, dtype: writing.dtype ?? .bf16,
                                         maxShardBytes: writing.maxShardBytes, tokenizer: tokenizer)
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

    /// --dtype defaults to the base's.
    @OptionGroup var writing: OutputOptions

    func run() throws {
        try reportingFailures {
            let outURL = URL(fileURLWithPath: out)
            try refuseToClobber(outURL, force: writing.force)
            try LoRAApplier.apply(base: URL(fileURLWithPath: base), adapter: URL(fileURLWithPath: adapter), to: outURL,
                                  dtype: writing.dtype, maxShardBytes: writing.maxShardBytes)
            print("applied \(adapter) to \(base) into \(out)")
        }
    }
}
