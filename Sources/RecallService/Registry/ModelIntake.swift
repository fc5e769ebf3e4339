import Foundation
import RecallTensor
import RecallStore

/// Turns whatever a user registers into full weights that fit the registry's base, or a one-line
/// error naming the file and tensor: a safetensors file (any extension), a sharded index, an HF
/// directory, a GGUF file (imported) or a PEFT LoRA adapter directory (applied to the model it
/// was trained from).
public struct ModelIntake {
    /// A candidate ready to store: weights only. Its config and tokenizer are the base's (the
    /// weights are checked to fit the base exactly), so the registry keeps no side files of its own.
    public struct Candidate {
        public let weights: TensorSource
        public let format: ModelFormat
        /// Kept alive while `weights` is read (a checkpoint's mapped files).
        let owner: AnyObject?
    }

    /// `trainedFrom` is the model a PEFT adapter is a delta on (the base, or the registry version
    /// the adapter was fine-tuned from): the adapter is applied to it, as PEFT's
    /// `merge_and_unload()` would. A GGUF file is read through `GGUFLlamaModel` (its header and
    /// shapes checked now), dequantised into the base's dtype only when the worker stores it.
    public static func open(_ url: URL, trainedFrom base: TensorSource) throws -> Candidate {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw RecallError(.notFound, "\(url.path): no such file or directory")
        }
        if isDir.boolValue, fm.fileExists(atPath: url.appendingPathComponent("adapter_config.json").path),
           !fm.fileExists(atPath: url.appendingPathComponent("config.json").path) {
            let applier = try LoRAApplier(base: base, adapter: try LoRAAdapter(directory: url))
            return Candidate(weights: applier, format: .peftLoRA, owner: applier)
        }
        if !isDir.boolValue, try isGGUF(url) {
            return try gguf(url, base: base)
        }
        let c = try Checkpoint.open(url)
        return Candidate(weights: c.weights, format: ModelFormat(c.layout), owner: c)
    }

    /// A llama GGUF file as weights in the base's dtype (BF16 when the base has no float
    /// tensors), every tensor's type checked to be one we dequantise.
    static func gguf(_ url: URL, base: TensorSource) throws -> Candidate {
        let model = try GGUFLlamaModel(url: url)
        try model.checkDequantizable()
        let dtype = base.infos.first { $0.dtype.isComputeFloat }?.dtype ?? .bf16
        let weights = CastSource(model, to: dtype)
        return Candidate(weights: weights, format: .gguf, owner: weights)
    }

    /// Opens a model `open` already checked, as the `format` it found then: a PEFT adapter is
    /// applied to `base` again, a GGUF file read as GGUF; anything else is the checkpoint at
    /// `url`. Nothing is sniffed a second time. (A GGUF job queued by an older daemon names
    /// the directory it imported the file into: that is opened as a checkpoint.)
    public static func reopen(_ url: URL, format: ModelFormat, trainedFrom base: TensorSource) throws -> Candidate {
        if format == .peftLoRA {
            let applier = try LoRAApplier(base: base, adapter: try LoRAAdapter(directory: url))
            return Candidate(weights: applier, format: format, owner: applier)
        }
        var isDir: ObjCBool = false
        if format == .gguf, FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue {
            return try gguf(url, base: base)
        }
        let c = try Checkpoint.open(url)
        return Candidate(weights: c.weights, format: format, owner: c)
    }

    static func isGGUF(_ url: URL) throws -> Bool {
        guard let h = FileHandle(forReadingAtPath: url.path) else {
            throw RecallError(.io, "\(url.path): cannot open for reading; check its permissions")
        }
        defer { try? h.close() }
        return h.readData(ofLength: 4) == Data("GGUF".utf8)
    }

    /// The candidate must have exactly the base's tensors with the base's shapes and float dtypes:
    /// names, shapes and dtypes only, so a register request answers in milliseconds at 7B. The
    /// values are scanned for NaN/Inf by the worker's put, as each new chunk is encoded (one pass
    /// over the bytes). A PEFT adapter's own tensors are small, so they are scanned here: a
    /// diverged training run is refused before it is queued.
    public static func check(_ candidate: TensorSource, against base: TensorSource, file: String) throws {
        var baseShapes: [String: [Int]] = [:]
        for info in base.infos { baseShapes[info.name] = info.shape }
        var seen = Set<String>()
        for info in candidate.infos {
            guard let shape = baseShapes[info.name] else {
                throw RecallError(.mismatch, "\(file): tensor \"\(info.name)\" is not in the base model; register a model fine-tuned from the registry's base")
            }
            guard shape == info.shape else {
                throw RecallError(.mismatch, "\(file): tensor \"\(info.name)\" has shape \(info.shape) but the base has \(shape); register a model of the base's architecture")
            }
            guard info.dtype.isComputeFloat else {
                throw RecallError(.unsupported, "\(file): tensor \"\(info.name)\" is \(info.dtype.rawValue); registered weights must be f32, f16 or bf16")
            }
            seen.insert(info.name)
        }
        if let missing = base.infos.first(where: { !seen.contains($0.name) }) {
            throw RecallError(.mismatch, "\(file): tensor \"\(missing.name)\" of the base is missing; register a full model (or a PEFT adapter directory)")
        }
        if let applier = candidate as? LoRAApplier {
            let weights = applier.adapter.weights
            for info in weights.infos {
                if let bad = try weights.tensor(named: info.name).firstNonFinite {
                    throw NonFiniteTensorError(tensor: info.name, element: bad).error(file: weights.url.path)
                }
            }
        }
    }
}
