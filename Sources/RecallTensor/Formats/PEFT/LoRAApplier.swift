import COpenBLAS
import Foundation

/// A base checkpoint with a LoRA adapter merged in, as a `TensorSource`: what PEFT's
/// `merge_and_unload()` gives, computed one tensor at a time when asked for.
///
/// - A target of a LoRA module becomes `W + scaling * B @ A` (`(B @ A)ᵀ` for embeddings and
///   `fan_in_fan_out`), computed in F32 with OpenBLAS `cblas_sgemm` accumulating straight into
///   the F32 copy of W, then rounded once to W's own dtype.
/// - A tensor the adapter carries whole (`modules_to_save`, trained biases, an embedding's saved
///   base weight) replaces the base one, converted to the base dtype (a LoRA update then
///   applies on top of it).
/// - Every other tensor is the base's own view, passed through without a copy.
///
/// Everything is checked in `init`: every module and replaced tensor must exist in the base with
/// matching shapes and a float dtype, so writing never fails half-way on an adapter meant for
/// another model.
public final class LoRAApplier: TensorSource, StoredTensorReuse, @unchecked Sendable {
    public let base: TensorSource
    public let adapter: LoRAAdapter
    package let merges: [String: LoRAModule]
    package let replaced: [String: String]

    public init(base: TensorSource, adapter: LoRAAdapter) throws {
        self.base = base
        self.adapter = adapter
        let path = adapter.directory.path
        var byName: [String: TensorInfo] = [:]
        for info in base.infos { byName[info.name] = info }
        func missing(_ module: String, _ tensor: String) -> RecallError {
            RecallError(.mismatch, "\(path): adapter changes \(module) but the base has no tensor \"\(tensor)\"; the adapter was made for another model")
        }
        var merges: [String: LoRAModule] = [:]
        for m in adapter.modules {
            guard let w = byName[m.target] else { throw missing("module \(m.module)", m.target) }
            guard w.dtype.isComputeFloat else {
                throw RecallError(.unsupported, "\(path): base tensor \"\(m.target)\" is \(w.dtype.rawValue); LoRA merges need F32, F16 or BF16")
            }
            let a = adapter.weights.info(named: m.loraA)!, b = adapter.weights.info(named: m.loraB)!
            let expected = m.layout == .linear ? [b.shape[0], a.shape[1]] : [a.shape[1], b.shape[0]]
            guard w.shape == expected else {
                throw RecallError(.mismatch, "\(path): module \(m.module): base tensor \"\(m.target)\" has shape \(w.shape) but lora_A \(a.shape) and lora_B \(b.shape) need \(expected); the adapter was made for another model")
            }
            guard merges[m.target] == nil else { throw RecallError(.invalidFile, "\(path): two LoRA modules change \"\(m.target)\"") }
            merges[m.target] = m
        }
        var replaced: [String: String] = [:]
        for (target, tensor) in adapter.replacements {
            guard let w = byName[target] else { throw missing("\"\(tensor)\"", target) }
            let t = adapter.weights.info(named: tensor)!
            guard t.shape == w.shape else {
                throw RecallError(.mismatch, "\(path): adapter tensor \"\(tensor)\" has shape \(t.shape) but base tensor \"\(target)\" has \(w.shape); the adapter was made for another model")
            }
            guard t.dtype == w.dtype || (t.dtype.isComputeFloat && w.dtype.isComputeFloat) else {
                throw RecallError(.mismatch, "\(path): adapter tensor \"\(tensor)\" is \(t.dtype.rawValue) but base tensor \"\(target)\" is \(w.dtype.rawValue)")
            }
            guard replaced[target] == nil else {
                throw RecallError(.invalidFile, "\(path): two adapter tensors replace \"\(target)\"")
            }
            replaced[target] = tensor
        }
        self.merges = merges
        self.replaced = replaced
    }

    /// Opens `adapterDirectory` and applies it to `base`.
    public convenience init(base: TensorSource, adapterDirectory: URL) throws {
        try self.init(base: base, adapter: try LoRAAdapter(directory: adapterDirectory))
    }

    public var infos: [TensorInfo] { base.infos }
    public var metadata: [(String, String)] { base.metadata }

    /// Base tensors this adapter changes (merged or replaced), sorted.
    public var changedTensorNames: [String] { Set(merges.keys).union(replaced.keys).sorted() }

    /// A tensor the adapter leaves alone is the base's own stored tensor.
    public func storedTensor(named name: String, in store: any ChunkStore) -> StoredTensor? {
        guard merges[name] == nil, replaced[name] == nil else { return nil }
        return (base as? StoredTensorReuse)?.storedTensor(named: name, in: store)
    }

    public func tensor(named name: String) throws -> TensorView {
        if let m = merges[name] { return try merged(m, onto: try replaced[name].map(replacement) ?? base.tensor(named: name)) }
        if let r = replaced[name] { return try replacement(r).renamed(name) }
        return try base.tensor(named: name)
    }

    /// An adapter tensor that replaces the base tensor `target`, in the base's dtype.
    func replacement(_ tensor: String) throws -> TensorView {
        let target = adapter.replacements.first { $0.tensor == tensor }!.target
        return try adapter.weights.tensor(named: tensor).converted(to: base.info(named: target)!.dtype).renamed(target)
    }

    /// `w + scaling * B @ A`, rounded once to w's dtype.
    func merged(_ m: LoRAModule, onto w: TensorView) throws -> TensorView {
        let a = try adapter.weights.tensor(named: m.loraA).toFloat32()
        let b = try adapter.weights.tensor(named: m.loraB).toFloat32()
        let aShape = adapter.weights.info(named: m.loraA)!.shape, bShape = adapter.weights.info(named: m.loraB)!.shape
        let r = m.rank
        let acc = TensorStorage(byteCount: w.elementCount * 4)
        let c = acc.pointer.assumingMemoryBound(to: Float.self)
        try w.copyFloat32(into: UnsafeMutableBufferPointer(start: c, count: w.elementCount))
        let scale = Float(m.scaling)
        if w.elementCount > 0 && r > 0 {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    switch m.layout {
                    case .linear:
                        // C[out, in] += scale * B[out, r] @ A[r, in]
                        let out = bShape[0], inn = aShape[1]
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(out), Int32(inn), Int32(r),
                                    scale, bp.baseAddress!, Int32(r), ap.baseAddress!, Int32(inn), 1, c, Int32(inn))
                    case .transposed:
                        // C[in, out] += scale * Aᵀ[in, r] @ Bᵀ[r, out]
                        let inn = aShape[1], out = bShape[0]
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, Int32(inn), Int32(out), Int32(r),
                                    scale, ap.baseAddress!, Int32(inn), bp.baseAddress!, Int32(r), 1, c, Int32(out))
                    }
                }
            }
        }
        let merged = TensorView(name: m.target, dtype: .f32, shape: w.shape, storage: acc)
        return merged.converted(to: w.dtype)
    }

    /// Applies the adapter in `adapterDirectory` to the HF checkpoint `base` (directory, index or
    /// file) and writes the merged checkpoint to `out` (an HF directory, or one file when `out`
    /// ends in `.safetensors`), carrying config and tokenizer files along. Streams tensor by tensor.
    public static func apply(base: URL, adapter adapterDirectory: URL, to out: URL,
                             dtype: DType? = nil, maxShardBytes: Int? = nil) throws {
        if out.standardizedFileURL.path == base.standardizedFileURL.path {
            throw RecallError(.invalidArgument, "\(out.path): the output must not be the base checkpoint itself")
        }
        let checkpoint = try Checkpoint.open(base)
        let applier = try LoRAApplier(base: checkpoint.weights, adapterDirectory: adapterDirectory)
        var meta = ["lora_adapter": adapterDirectory.lastPathComponent]
        if let name = applier.adapter.config.baseModelNameOrPath { meta["lora_base_model"] = name }
        let writer = CheckpointWriter(dtype: dtype, maxShardBytes: maxShardBytes, metadata: meta)
        try writer.write(applier, configJSON: checkpoint.configJSON, sidecars: checkpoint.sidecarFiles, to: out)
    }
}
