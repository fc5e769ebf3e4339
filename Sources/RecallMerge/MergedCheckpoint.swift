import Foundation
import RecallTensor

/// One input model of a merge and its per-model parameters (`weight`, `density`, ...).
public struct MergeModel {
    public let name: String
    public let source: TensorSource
    public var parameters: [String: ParameterSetting]

    public init(name: String, source: TensorSource, parameters: [String: ParameterSetting] = [:]) {
        self.name = name
        self.source = source
        self.parameters = parameters
    }
}

/// Everything a merge needs, as a value (mergekit's config, minus file paths).
public struct MergeConfiguration {
    public var method: MergeMethod
    public var base: MergeModel?
    /// The models merged (the base is not repeated here for base-using methods).
    public var models: [MergeModel]
    /// Global parameters (`normalize`, `lambda`, `t`, ...); also defaults for per-model ones.
    public var parameters: [String: ParameterSetting]
    /// Output dtype for float tensors; nil keeps the base's (or first model's).
    public var outputDType: DType?
    /// Seed for random methods (DARE).
    public var seed: UInt64

    public init(method: MergeMethod, base: MergeModel?, models: [MergeModel], parameters: [String: ParameterSetting] = [:],
                outputDType: DType? = nil, seed: UInt64 = 0) {
        self.method = method
        self.base = base
        self.models = models
        self.parameters = parameters
        self.outputDType = outputDType
        self.seed = seed
    }
}

/// The result of a merge as a `TensorSource`: each tensor is merged when it is asked for, so
/// writing the output streams one tensor at a time (peak memory: the inputs of one tensor).
///
/// Construction checks that all inputs share the reference model's tensor names and shapes
/// (the first mismatch is named), and each tensor's inputs are checked for NaN/Inf when merged.
public final class MergedCheckpoint: TensorSource, StoredTensorReuse, @unchecked Sendable {
    public let configuration: MergeConfiguration
    public let infos: [TensorInfo]
    public var metadata: [(String, String)] { [("recall.merge_method", configuration.method.name)] }
    let reference: MergeModel
    let layerCount: Int

    public init(_ configuration: MergeConfiguration) throws {
        self.configuration = configuration
        let method = configuration.method
        if method.needsBase && configuration.base == nil {
            throw RecallError(.invalidArgument, "merge method \(method.name) needs a base model")
        }
        guard let reference = configuration.base ?? configuration.models.first else {
            throw RecallError(.invalidArgument, "a merge needs at least one model")
        }
        if configuration.models.isEmpty && !method.needsBase {
            throw RecallError(.invalidArgument, "merge method \(method.name) needs at least one model")
        }
        self.reference = reference
        let expected = Dictionary(uniqueKeysWithValues: reference.source.infos.map { ($0.name, $0) })
        for m in configuration.models {
            let theirs = Dictionary(uniqueKeysWithValues: m.source.infos.map { ($0.name, $0) })
            for info in reference.source.infos.sorted(by: { $0.name < $1.name }) {
                guard let t = theirs[info.name] else {
                    throw RecallError(.mismatch, "model \(m.name) has no tensor \(info.name), which \(reference.name) has; models must share the base's architecture")
                }
                guard t.shape == info.shape else {
                    throw RecallError(.mismatch, "model \(m.name): tensor \(info.name) has shape \(t.shape) but \(reference.name) has \(info.shape)")
                }
                guard t.dtype.isComputeFloat == info.dtype.isComputeFloat else {
                    throw RecallError(.mismatch, "model \(m.name): tensor \(info.name) is \(t.dtype.rawValue) but \(reference.name) has \(info.dtype.rawValue)")
                }
            }
            if let extra = theirs.keys.sorted().first(where: { expected[$0] == nil }) {
                throw RecallError(.mismatch, "model \(m.name) has tensor \(extra), which \(reference.name) lacks; models must share the base's architecture")
            }
        }
        infos = reference.source.infos.map { info in
            guard info.dtype.isComputeFloat, let out = configuration.outputDType else { return info }
            return TensorInfo(name: info.name, dtype: out, shape: info.shape)
        }
        layerCount = (reference.source.infos.compactMap { layerIndex(of: $0.name) }.max() ?? -1) + 1
    }

    /// The value of a global parameter for `tensor`, or the method's default.
    func globalParameter(_ name: String, tensor: String, t: Double) -> Double? {
        configuration.parameters[name]?.value(for: tensor, t: t) ?? configuration.method.defaultParameters[name]
    }

    /// A tensor every input holds with the same bytes merges to those bytes: for a base-using
    /// method every task vector is zero (and a zero update keeps the base's bits). A normalised
    /// linear merge or SLERP of equal tensors is that tensor only up to an F32 ulp, which
    /// rounding back to BF16/F16 removes, so those two reuse 16-bit tensors only. When all inputs
    /// are stored, that is known from the manifests alone, without reading or merging anything.
    public func storedTensor(named name: String, in store: any ChunkStore) -> StoredTensor? {
        let method = configuration.method
        let averaging = method.name == "slerp"
            || (method.name == "linear" && (configuration.parameters["normalize"]?.value(for: name, t: 0) ?? 1) != 0)
        guard method.needsBase || averaging, let first = (configuration.base ?? configuration.models.first)?.source as? StoredTensorReuse,
              let entry = first.storedTensor(named: name, in: store),
              method.needsBase || [.bf16, .f16].contains(entry.info.dtype) || !entry.info.dtype.isComputeFloat || entry.info.elementCount == 0,
              configuration.outputDType == nil || configuration.outputDType == entry.info.dtype || !entry.info.dtype.isComputeFloat
        else { return nil }
        for m in configuration.models {
            guard let theirs = (m.source as? StoredTensorReuse)?.storedTensor(named: name, in: store),
                  theirs.sha256 == entry.sha256, theirs.info == entry.info else { return nil }
        }
        return entry
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let info = infos.first(where: { $0.name == name }) else {
            throw RecallError(.notFound, "merge output has no tensor \(name)")
        }
        let refView = try reference.source.tensor(named: name)
        guard refView.dtype.isComputeFloat else { return refView }  // ids, masks: carried from the reference
        let method = configuration.method
        let t = layerPosition(of: name, layerCount: layerCount)

        if method.elementwise {
            return try mergeInChunks(info: info, reference: refView, tensorParameters: t)
        }

        func load(_ m: MergeModel) throws -> [Float] {
            let view = try m.source.tensor(named: name)
            let values = try view.toFloat32()
            view.releaseMappedPages()  // the F32 copy is what is used from here on
            if let bad = values.withUnsafeBytes({ firstNonFiniteIndex($0, dtype: .f32) }) {
                throw RecallError(.invalidFile, "model \(m.name): tensor \(name) holds \(values[bad]) at element \(bad); refusing to merge non-finite weights")
            }
            return values
        }
        let base = try configuration.base.map(load)
        if let base, let factors = try lowRankFactors(of: name, shape: info.shape) {
            // Every model is a LoRA update of the base here: the method works from the factors.
            var out = [Float](repeating: 0, count: refView.elementCount)
            let global = globalParameters(tensor: name, t: t)
            try base.withUnsafeBufferPointer { b in
                let context = TensorMergeContext(tensorName: name, base: b, inputs: [], parameters: global, seed: configuration.seed ^ fnv1a(name),
                                                 shape: info.shape, factors: factors)
                try out.withUnsafeMutableBufferPointer { try method.merge(context, into: $0) }
            }
            return TensorView(name: name, shape: info.shape, float32: out, as: info.dtype)
        }
        var inputs: [[Float]] = []
        for m in configuration.models { inputs.append(try load(m)) }
        let parameters = try modelParameters(tensor: name, t: t)
        let global = globalParameters(tensor: name, t: t)
        let count = refView.elementCount
        var out = [Float](repeating: 0, count: count)
        let seed = configuration.seed ^ fnv1a(name)
        try withBuffers(inputs) { buffers in
            let mergeInputs = zip(buffers, parameters).map { MergeInput(values: $0, parameters: $1) }
            try out.withUnsafeMutableBufferPointer { o in
                if let base {
                    try base.withUnsafeBufferPointer { b in
                        try method.merge(TensorMergeContext(tensorName: name, base: b, inputs: mergeInputs, parameters: global, seed: seed,
                                                            shape: info.shape), into: o)
                    }
                } else {
                    try method.merge(TensorMergeContext(tensorName: name, base: nil, inputs: mergeInputs, parameters: global, seed: seed,
                                                        shape: info.shape), into: o)
                }
            }
        }
        return TensorView(name: name, shape: info.shape, float32: out, as: info.dtype)
    }
}

extension MergedCheckpoint {
    /// Every model's update of a 2-D tensor over the base as low-rank factors, when the method
    /// works from factors and every model has them (LoRA adapters applied to this very base);
    /// else nil (the dense path).
    func lowRankFactors(of name: String, shape: [Int]) throws -> [LowRankFactors]? {
        guard configuration.method.usesLowRankFactors, shape.count == 2, let base = configuration.base?.source,
              !configuration.models.isEmpty else { return nil }
        var factors: [LowRankFactors] = []
        for m in configuration.models {
            guard let f = try (m.source as? LowRankDeltaSource)?.lowRankDelta(named: name, over: base) else { return nil }
            factors.append(f)
        }
        return factors
    }

    /// Elements per chunk of an element-wise merge: the F32 slices of all inputs of one chunk
    /// (256 KiB each) stay in cache while they are merged and narrowed into the output.
    static let chunkElements = 1 << 16

    /// Per-model parameters resolved for one tensor (required ones named when missing).
    func modelParameters(tensor name: String, t: Double) throws -> [[String: Double]] {
        let method = configuration.method
        return try configuration.models.map { m in
            var p: [String: Double] = [:]
            for (key, fallback) in method.defaultModelParameters {
                if let v = m.parameters[key]?.value(for: name, t: t) ?? configuration.parameters[key]?.value(for: name, t: t) ?? fallback {
                    p[key] = v
                } else {
                    throw RecallError(.invalidArgument, "model \(m.name): parameter \(key) is required by \(method.name) (none given for tensor \(name))")
                }
            }
            return p
        }
    }

    func globalParameters(tensor name: String, t: Double) -> [String: Double] {
        var global: [String: Double] = [:]
        for key in Set(configuration.method.defaultParameters.keys).union(configuration.parameters.keys) {
            if let v = globalParameter(key, tensor: name, t: t) { global[key] = v }
        }
        return global
    }

    /// An element-wise method over one tensor, chunk by chunk on every core (`TensorChunks`):
    /// after the method's survey passes (if any), each chunk of every input is widened to F32 in
    /// a small per-worker buffer, checked for NaN/Inf, merged, and narrowed straight into the
    /// output's storage. Memory: the output plus a few hundred KiB per worker, instead of every
    /// input and the output in F32; the last pass drops the input pages it has read block by
    /// block (they stay in the page cache; the pages at the tensor's edges go at the end), so
    /// resident memory does not grow with the models read.
    func mergeInChunks(info: TensorInfo, reference: TensorView, tensorParameters t: Double) throws -> TensorView {
        let name = info.name
        let method = configuration.method
        let parameters = try modelParameters(tensor: name, t: t)
        let global = globalParameters(tensor: name, t: t)
        let seed = configuration.seed ^ fnv1a(name)
        // Base first (when the method uses one), then the models, as the error order expects.
        let owners = (configuration.base.map { [$0] } ?? []) + configuration.models
        let views = try owners.map { try $0.source.tensor(named: name) }
        let chunks = TensorChunks(tensorName: name, views: views, owners: owners.map(\.name),
                                  hasBase: configuration.base != nil, chunkElements: Self.chunkElements)
        let survey = try method.survey(chunks, models: parameters, parameters: global, seed: seed)
        let storage = TensorStorage(byteCount: reference.elementCount * info.dtype.byteSize)
        try chunks.forEach { chunk in
            let inputs = zip(chunk.inputs, parameters).map { MergeInput(values: $0, parameters: $1) }
            try method.merge(TensorMergeContext(tensorName: name, base: chunk.base, inputs: inputs, parameters: global, seed: seed,
                                                offset: chunk.start, chunk: chunk.index, survey: survey),
                             into: chunk.scratch)
            FloatConversion.fromFloat32(chunk.scratch.baseAddress!, to: info.dtype,
                                        into: storage.pointer + chunk.start * info.dtype.byteSize, count: chunk.scratch.count)
        }
        for v in views { v.releaseMappedPages() }
        return TensorView(name: name, dtype: info.dtype, shape: info.shape, storage: storage)
    }
}

/// Calls `body` with stable buffer pointers to every array.
func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}

/// FNV-1a of a string: a stable per-tensor seed component.
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 }
    return h
}
