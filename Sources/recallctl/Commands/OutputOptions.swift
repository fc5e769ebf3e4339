import ArgumentParser
import Foundation
import RecallTensor

/// How a command writes weights: float dtype, sharding, overwriting. Shared by convert, import,
/// apply-lora and merge; each names its output itself (an argument, or merge's --out).
struct OutputOptions: ParsableArguments {
    @Option(help: "Float dtype of the written weights: f32, f16 or bf16 (default: the input's; import writes bf16).")
    var dtype: DType?

    @Option(name: .customLong("shard-size"), help: "Split the weights into shards of at most this size (e.g. 2GB, 500MB).")
    var shardSize: String?

    @Flag(help: "Overwrite OUT if it exists and is not empty.")
    var force = false

    func validate() throws {
        if let dtype, !dtype.isComputeFloat {
            throw ValidationError("--dtype must be f32, f16 or bf16")
        }
        if let shardSize, parseByteSize(shardSize) == nil {
            throw ValidationError("--shard-size '\(shardSize)' is not a size such as 2GB, 500MB or 1048576")
        }
    }

    /// `--shard-size` in bytes, nil for one file.
    var maxShardBytes: Int? { shardSize.flatMap(parseByteSize) }
}
