import ArgumentParser
import Foundation
import RecallTensor
import RecallModel
import RecallMerge

struct HiddenStatesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hidden-states",
        abstract: "Write every layer's hidden states of a model on a samples file, as safetensors.",
        discussion: """
        Output tensors: layer.{i} of shape [samples, hidden] (pooled; layer 0 = embedding output, \
        layer L has the final norm applied, as transformers' output_hidden_states), and with \
        --per-token also layer.{i}.sample.{j} of shape [tokens, hidden].
        """
    )

    @Argument(help: "HF model directory.")
    var model: String

    @Option(help: "Samples file: JSONL, one {\"text\": ...} per line.")
    var samples: String

    @Option(help: "Output .safetensors file.")
    var out: String

    @Option(help: "Pooling over tokens: mean, exclude-first, exclude-outliers (also drops positions over 10x the median norm).")
    var pooling: String = "mean"

    @Flag(name: .customLong("per-token"), help: "Also write every token's state.")
    var perToken = false

    @Option(help: "Samples per forward pass.")
    var batch: Int = 16

    func validate() throws {
        guard Pooling(argument: pooling) != nil else { throw ValidationError("--pooling must be mean, exclude-first or exclude-outliers") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        try reportingFailures {
            let loaded = try LoadedModel(path: model)
            let items = try SamplesFile.load(URL(fileURLWithPath: samples))
            let ids = items.map { loaded.tokenizer.encode($0.text) }
            let options = ForwardOptions(perTokenStates: perToken, pooling: Pooling(argument: pooling)!)
            let layers = loaded.model.config.numHiddenLayers + 1, h = loaded.model.config.hiddenSize
            var pooled = [[Float]](repeating: [], count: layers)
            var tokens: [TensorView] = []
            var start = 0
            while start < ids.count {
                let chunk = Array(ids[start..<min(ids.count, start + batch)])
                let states = try loaded.model.hiddenStates(chunk, options: options)
                for l in 0..<layers { for s in 0..<chunk.count { pooled[l] += states.pooled(layer: l, sample: s) } }
                if let per = states.perToken {
                    for l in 0..<layers { for s in 0..<chunk.count {
                        tokens.append(TensorView(name: "layer.\(l).sample.\(start + s)", shape: [chunk[s].count, h], float32: per[l][s]))
                    } }
                }
                start += chunk.count
            }
            let tensors = (0..<layers).map { TensorView(name: "layer.\($0)", shape: [ids.count, h], float32: pooled[$0]) } + tokens
            try SafeTensorsWriter(metadata: ["recall.model": model, "recall.pooling": pooling, "recall.samples": String(ids.count)])
                .write(tensors, to: URL(fileURLWithPath: out))
            print("wrote \(out): \(layers) layers x \(ids.count) samples x \(h)")
        }
    }
}
