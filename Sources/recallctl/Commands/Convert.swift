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

    @Option(help: "Convert float tensors to this dtype (f32, f16, bf16). Default: keep each tensor's dtype.")
    var dtype: DType?

    @Option(name: .customLong("shard-size"), help: "Split the weights into shards of at most this size (e.g. 2GB, 500MB).")
    var shardSize: String?

    @Flag(help: "Overwrite OUT if it exists and is not empty.")
    var force = false

    @Flag(help: "Print a JSON summary.")
    var json = false

    func validate() throws {
        if let dtype, !dtype.isComputeFloat {
            throw ValidationError("--dtype must be f32, f16 or bf16")
        }
        if let shardSize, parseByteSize(shardSize) == nil {
            throw ValidationError("--shard-size '\(shardSize)' is not a size such as 2GB, 500MB or 1048576")
        }
    }

    func run() throws {
        try reportingFailures {
            let inURL = URL(fileURLWithPath: input)
            let outURL = URL(fileURLWithPath: output)
            let checkpoint = try Checkpoint.open(inURL)
            if inURL.standardizedFileURL.resolvingSymlinksInPath() == outURL.standardizedFileURL.resolvingSymlinksInPath() {
                throw RecallError(.invalidArgument, "\(output): output is the input; choose another path")
            }
            try refuseToClobber(outURL, force: force)
            let writer = CheckpointWriter(
                dtype: dtype,
                maxShardBytes: shardSize.flatMap(parseByteSize),
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
