import Foundation
import RecallTensor
import RecallModel
import RecallStore

/// The registry's base as a job or an evaluation reads it: its record, stored weights and config,
/// and its tokenizer, built from the stored tokenizer files' bytes on first use and then kept
/// (one per job, however many phases encode text).
final class RegistryBase {
    let record: ModelRecord
    let weights: StoredCheckpoint
    let config: ModelConfig
    private var builtTokenizer: Tokenizer?

    init(store: RegistryStore, settings: RegistrySettings) throws {
        guard let record = try store.provenance.model(id: settings.baseModelID) else {
            throw RecallError(.notFound, "store: the base model record is missing; check the store (verify)")
        }
        self.record = record
        weights = try store.checkpoint(of: record)
        config = try ModelConfig(json: try JSONValue.parse(try weights.file(named: "config.json"), rejectDuplicateKeys: false),
                                 source: "config.json of the base")
    }

    /// The base's tokenizer (`tokenizer.json`, with `tokenizer_config.json` when stored).
    func tokenizer() throws -> Tokenizer {
        if let builtTokenizer { return builtTokenizer }
        let names = weights.fileNames
        guard names.contains("tokenizer.json") else {
            throw RecallError(.notFound, "the registry's base has no tokenizer.json; encoding samples or eval items needs the base's tokenizer (initialise the registry from an HF directory that has one)")
        }
        let tokenizer = try Tokenizer(tokenizerJSON: try weights.file(named: "tokenizer.json"),
                                      tokenizerConfig: names.contains("tokenizer_config.json") ? try weights.file(named: "tokenizer_config.json") : nil)
        builtTokenizer = tokenizer
        return tokenizer
    }
}
