import Foundation
import RecallTensor
import RecallModel

/// A model directory opened for inference: weights, architecture and tokenizer.
struct LoadedModel {
    let checkpoint: Checkpoint
    let model: LlamaModel
    let tokenizer: Tokenizer

    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        checkpoint = try Checkpoint.open(url)
        guard checkpoint.layout == .directory else {
            throw RecallError(.invalidArgument, "\(path): give an HF model directory (config.json, weights, tokenizer.json)")
        }
        model = try LlamaModel(checkpoint: checkpoint)
        tokenizer = try Tokenizer(directory: url)
    }
}
