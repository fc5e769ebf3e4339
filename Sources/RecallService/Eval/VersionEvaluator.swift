import Foundation
import RecallTensor
import RecallModel
import RecallStore

/// Runs stored models on tasks' eval items: the registry's base config and tokenizer, the store's
/// weights, and a scratch directory for models too large to decode into memory.
struct VersionEvaluator {
    let store: RegistryStore
    let config: ModelConfig
    let tokenizer: Tokenizer
    let scratch: URL

    /// The scores of `weights` on every set, in order; `progress` hears each finished set's count.
    func evaluate(_ weights: StoredCheckpoint, origin: String, sets: [(task: String, eval: String)],
                  progress: (Int) throws -> Void = { _ in }) throws -> [(task: String, result: TaskEvaluator.Result)] {
        let model = try LlamaModel(config: config, mapping: weights, scratch: scratch, origin: origin)
        var results: [(task: String, result: TaskEvaluator.Result)] = []
        for s in sets {
            let items = try TaskEvaluator.items(Data(s.eval.utf8), source: "eval items of task \(s.task)")
            results.append((s.task, try TaskEvaluator().evaluate(model, tokenizer: tokenizer, items: items)))
            try progress(results.count)
        }
        return results
    }
}
