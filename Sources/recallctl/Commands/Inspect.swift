import ArgumentParser
import Foundation
import RecallTensor
import RecallModel

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a checkpoint's tensors, totals, metadata and architecture.",
        discussion: "PATH may be a safetensors file (any extension), a sharded index (*.index.json) or an HF model directory."
    )

    @Argument(help: "Checkpoint file, sharded index or HF model directory.")
    var path: String

    @Flag(help: "Print machine-readable JSON instead of a table.")
    var json = false

    func run() throws {
        try reportingFailures {
            let checkpoint = try Checkpoint.open(URL(fileURLWithPath: path))
            let report = CheckpointReport(checkpoint)
            if json { printJSON(report.json) } else { print(report.text, terminator: "") }
        }
    }
}

/// What `inspect` shows, computed once for both output forms.
struct CheckpointReport {
    let checkpoint: Checkpoint
    let infos: [TensorInfo]
    let parameters: Int
    let bytes: Int
    let config: Result<ModelConfig, RecallError>?
    let shardFiles: [String]

    init(_ checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        infos = checkpoint.weights.infos
        parameters = infos.reduce(0) { $0 + $1.elementCount }
        bytes = infos.reduce(0) { $0 + $1.byteCount }
        if checkpoint.configJSON != nil {
            do { config = .success(try checkpoint.modelConfig()) } catch let e as RecallError { config = .failure(e) } catch {
                config = .failure(RecallError(.invalidFile, "\(error)"))
            }
        } else {
            config = nil
        }
        if let sharded = checkpoint.weights as? ShardedCheckpoint {
            shardFiles = sharded.shards.map { $0.url.lastPathComponent }
        } else if let file = checkpoint.weights as? SafeTensorsFile {
            shardFiles = [file.url.lastPathComponent]
        } else {
            shardFiles = []
        }
    }

    var dtypeCounts: [(DType, Int)] {
        var counts: [DType: Int] = [:]
        for i in infos { counts[i.dtype, default: 0] += 1 }
        return counts.sorted { $0.key.rawValue < $1.key.rawValue }
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("path", .string(checkpoint.url.path)),
            ("layout", .string(checkpoint.layout.rawValue)),
            ("files", .array(shardFiles.map { .string($0) })),
        ]
        switch config {
        case .success(let c)?:
            members.append(("config", .object([
                ("model_type", .string(c.modelType)),
                ("hidden_size", .int(c.hiddenSize)),
                ("num_hidden_layers", .int(c.numHiddenLayers)),
                ("num_attention_heads", .int(c.numAttentionHeads)),
                ("num_key_value_heads", .int(c.numKeyValueHeads)),
                ("head_dim", .int(c.headDim)),
                ("intermediate_size", .int(c.intermediateSize)),
                ("vocab_size", .int(c.vocabSize)),
                ("rms_norm_eps", .number(c.rmsNormEps, integer: nil)),
                ("rope_theta", .number(c.ropeTheta, integer: nil)),
                ("rope_scaling", .string(c.ropeScaling.typeName)),
                ("tie_word_embeddings", .bool(c.tieWordEmbeddings)),
                ("attention_bias", .bool(c.attentionBias)),
            ])))
        case .failure(let e)?:
            members.append(("config_error", .string(e.description)))
        case nil:
            break
        }
        members.append(("metadata", .object(checkpoint.weights.metadata.map { ($0.0, .string($0.1)) })))
        members.append(("total_tensors", .int(infos.count)))
        members.append(("total_parameters", .int(parameters)))
        members.append(("total_bytes", .int(bytes)))
        members.append(("tensors", .array(infos.map { info in
            .object([
                ("name", .string(info.name)),
                ("dtype", .string(info.dtype.rawValue)),
                ("shape", .array(info.shape.map { .int($0) })),
                ("bytes", .int(info.byteCount)),
            ])
        })))
        return .object(members)
    }

    var text: String {
        var out = "path:       \(checkpoint.url.path) (\(checkpoint.layout.rawValue)"
        out += shardFiles.count > 1 ? ", \(shardFiles.count) shards)\n" : ")\n"
        switch config {
        case .success(let c)?: out += "config:     \(c.summary)\n"
        case .failure(let e)?: out += "config:     unusable: \(e.description)\n"
        case nil: out += "config:     none (bare weights file)\n"
        }
        if !checkpoint.weights.metadata.isEmpty {
            out += "metadata:   " + checkpoint.weights.metadata.map { "\($0.0)=\($0.1)" }.joined(separator: ", ") + "\n"
        }
        out += "tensors:    \(infos.count) (" + dtypeCounts.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ") + ")\n"
        out += "parameters: \(parameters)\n"
        out += "bytes:      \(bytes) (\(formatBytes(bytes)))\n\n"
        let nameWidth = min(72, max(4, infos.map(\.name.count).max() ?? 4))
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        out += pad("NAME", nameWidth) + "  " + pad("DTYPE", 7) + "  " + pad("SHAPE", 18) + "  BYTES\n"
        for i in infos {
            let shape = "[" + i.shape.map(String.init).joined(separator: ", ") + "]"
            out += pad(i.name, nameWidth) + "  " + pad(i.dtype.rawValue, 7) + "  " + pad(shape, 18) + "  \(i.byteCount)\n"
        }
        return out
    }
}

/// `123456789` -> `117.7 MiB`.
func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
