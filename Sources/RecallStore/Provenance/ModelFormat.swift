import Foundation
import RecallTensor

/// What a stored model was when it came in (`models.format`, a register job's payload `format`).
/// Every value any writer records is a case, so a row with another value is damage, read as an
/// error naming the column.
public enum ModelFormat: String, Sendable, CaseIterable {
    /// A checkpoint by its layout (`Checkpoint.Layout`): one safetensors file, a sharded index,
    /// an HF directory.
    case file, sharded, directory
    /// A GGUF file, imported to safetensors before it is read.
    case gguf
    /// A PEFT LoRA adapter directory, applied to the model it was trained from.
    case peftLoRA = "peft-lora"
    /// A merge result the registry made itself.
    case merged
    /// Tensors built in memory with no file behind them (RecallBench's stress and growth runs).
    case memory

    /// A checkpoint's layout as a format (the layouts are all cases).
    public init(_ layout: Checkpoint.Layout) {
        switch layout {
        case .file: self = .file
        case .sharded: self = .sharded
        case .directory: self = .directory
        }
    }
}
