import ArgumentParser
import Foundation
import RecallTensor

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a checkpoint, optionally changing its float dtype or sharding it.",
        discussion: """
        OUT ending in .safetensors (without --shard-size) becomes one file; anything else becomes an HF \
        model directory (config.json and tokenizer files copied, config dtype updated). Only F32/F16/BF16 \
        tensors are converted; integer and bool tensors are copied unchanged.
        """
    )

    @Argument(help: "Checkpoint file, sharded index or HF model directory.")
    var input: String

    @Argument(help: "Output .safetensors file or directory.")
    var output: String

    /// --dtype converts float tensors (default: keep each tensor's dtype).
    @OptionGroup var writing: OutputOptions

    @Flag(help: "Print a JSON summary.")
    var json = false

    func run() throws {
        try reportingFailures {
            let inURL = URL(fileURLWithPath: input)
            let outURL = URL(fileURLWithPath: output)
            let checkpoint = try Checkpoint.open(inURL)
            if inURL.standardizedFileURL.resolvingSymlinksInPath() == outURL.standardizedFileURL.resolvingSymlinksInPath() {
                throw RecallError(.invalidArgument, "\(output): output is the input; choose another path")
            }
            try refuseToClobber(outURL, force: writing.force)
            let writer = CheckpointWriter(
                dtype: writing.dtype,
                maxShardBytes: writing.maxShardBytes,
                metadata: ["recall.tool": "recallctl convert \(RecallVersion.string)",
                           "recall.source": inURL.lastPathComponent]
            )
            try writer.write(checkpoint, to: outURL)
            let written = try Checkpoint.open(outURL)
            let bytes = written.weights.totalBytes
            if json {
                printJSON(.object([
                    ("output", .string(outURL.path)),
                    ("tensors", .int(written.weights.infos.count)),
                    ("bytes", .int(bytes)),
                    ("sharded", .bool(written.isSharded)),
                ]))
            } else {
                print("wrote \(outURL.path): \(written.weights.infos.count) tensors, \(formatBytes(bytes))\(written.isSharded ? " (sharded)" : "")")
            }
        }
    }
}
