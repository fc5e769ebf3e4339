import Foundation
import RecallTensor

// The Llama-family decoder (Llama, Mistral, SmolLM2, Qwen2) as transformers defines it:
//
//   h0 = embed_tokens[ids]
//   for each layer:  h += o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = input_layernorm(h)
//                    h += down_proj(silu(gate_proj(n2)) * up_proj(n2))                     n2 = post_attention_layernorm(h)
//   out = norm(h);  logits = lm_head(out)
//
// Qwen2 differs only by q/k/v biases (ModelConfig.attentionBias); Llama's `attention_bias`
// adds o_proj's too, `mlp_bias` the MLP's. Mistral/Qwen2 sliding windows narrow the mask.
//
// Execution: many samples are packed row after row into one `[tokens x hidden]` matrix (no
// padding anywhere), so every projection is one large sgemm over all tokens; attention runs
// per sample. Layers stream: a layer's weights are converted to F32 into one reused arena
// just before it runs, so at most one layer is ever held in F32 (plus, once logits over many
// rows are asked for, the output projection). Steps of a few rows (decoding) skip the copy
// and multiply straight from the stored BF16/F16/F32 weights (`Projection.stored`).

/// Scratch of one forward call, sized for the largest chunk.
final class LlamaWorkspace {
    let xn = FloatBuffer(), qkv = FloatBuffer(), attn = FloatBuffer(), gu = FloatBuffer(), act = FloatBuffer()
    let scores = FloatBuffer()
    /// Per worker: the gathered prefix + branch keys and values of one branch segment.
    let kvGather = FloatBuffer()
    let arena: WeightArena
    private(set) var ropeCos: [Float] = []
    private(set) var ropeSin: [Float] = []
    private(set) var ropePositions = 0
    /// Position of each row of the current chunk.
    var positions: [Int32] = []
    /// Sees the input of every linear module as it is computed (RegMean's statistics).
    var capture: ActivationCapture?

    init(model: LlamaModel) { arena = WeightArena(capacity: model.layerArenaFloats) }

    func prepare(model m: LlamaModel, rows: Int, maxPosition: Int) {
        let c = m.config
        xn.reserve(rows * c.hiddenSize)
        qkv.reserve(rows * m.qkvWidth)
        attn.reserve(rows * c.numAttentionHeads * c.headDim)
        gu.reserve(rows * 2 * c.intermediateSize)
        act.reserve(rows * c.intermediateSize)
        scores.reserve(Parallel.threadCount * CausalAttention.scratchCount(keys: maxPosition))
        kvGather.reserve(Parallel.threadCount * 2 * c.numKeyValueHeads * c.headDim * maxPosition)
        if maxPosition > ropePositions {
            let n = max(maxPosition, 2 * ropePositions)
            (ropeCos, ropeSin) = m.rope.table(positions: n)
            ropePositions = n
        }
    }
}

/// Where a linear module's input is seen: q/k/v share the attention input, gate/up the MLP
/// input; o_proj reads the attention output and down_proj the MLP hidden (SwiGLU) rows.
public enum ActivationSite: Int, CaseIterable, Sendable {
    case attentionInput, attentionOutput, mlpInput, mlpHidden

    /// The HF projection names that read this input.
    public var modules: [String] {
        switch self {
        case .attentionInput: return ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
        case .attentionOutput: return ["self_attn.o_proj"]
        case .mlpInput: return ["mlp.gate_proj", "mlp.up_proj"]
        case .mlpHidden: return ["mlp.down_proj"]
        }
    }

    /// The site whose input `model.layers.N.<module>.weight` reads, with N; nil for other tensors.
    public static func of(tensor name: String) -> (layer: Int, site: ActivationSite)? {
        guard name.hasPrefix("model.layers."), name.hasSuffix(".weight") else { return nil }
        let rest = name.dropFirst("model.layers.".count).dropLast(".weight".count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let module = String(rest[rest.index(after: dot)...])
        guard let site = allCases.first(where: { $0.modules.contains(module) }) else { return nil }
        return (layer, site)
    }
}

/// `(layer, site, rows pointer, rows, width, leading dimension)`, called on the forward pass's
/// thread for every packed chunk.
package typealias ActivationCapture = (Int, ActivationSite, UnsafePointer<Float>, Int, Int, Int) -> Void

// MARK: - MLP

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`, gate and up fused into one product.
struct LlamaMLP {
    let gateProj, upProj, downProj: LinearWeights

    struct Loaded {
        /// `[2·intermediate x hidden]`: gate rows then up rows (one product).
        let gateUp: Projection
        let gateUpBias: UnsafePointer<Float>?
        let down: Projection
        let downBias: UnsafePointer<Float>?
    }

    var hiddenSize: Int { gateProj.inDim }
    var intermediateSize: Int { gateProj.outDim }
    var arenaFloats: [Int] {
        let f = intermediateSize, h = hiddenSize
        return [2 * f * h, gateProj.bias == nil ? 0 : 2 * f, f * h, downProj.bias == nil ? 0 : h]
    }

    func materialize(into arena: WeightArena, direct: Bool) throws -> Loaded {
        let f = intermediateSize, h = hiddenSize
        let gateUp: Projection
        if direct {
            gateUp = .stored([gateProj.weight, upProj.weight])
        } else {
            let gu = arena.take(2 * f * h)
            try gateProj.weight.copyFloat32(into: UnsafeMutableBufferPointer(start: gu, count: f * h))
            try upProj.weight.copyFloat32(into: UnsafeMutableBufferPointer(start: gu + f * h, count: f * h))
            gateUp = .f32(gu)
        }
        var guBias: UnsafeMutablePointer<Float>?
        if let gb = gateProj.bias, let ub = upProj.bias {
            let b = arena.take(2 * f)
            try gb.copyFloat32(into: UnsafeMutableBufferPointer(start: b, count: f))
            try ub.copyFloat32(into: UnsafeMutableBufferPointer(start: b + f, count: f))
            guBias = b
        }
        let down: Projection = direct ? .stored([downProj.weight]) : .f32(try arenaCopy(downProj.weight, arena))
        return Loaded(gateUp: gateUp, gateUpBias: guBias, down: down, downBias: try downProj.bias.map { try arenaCopy($0, arena) })
    }

    /// `x += mlp(xn)` over `rows` rows.
    func callAsFunction(_ w: Loaded, normed xn: UnsafePointer<Float>, residual x: UnsafeMutablePointer<Float>,
                        rows: Int, ws: LlamaWorkspace, layer: Int) {
        let f = intermediateSize, h = hiddenSize
        let gu = ws.gu.pointer, act = ws.act.pointer
        w.gateUp.apply(xn, ldx: h, rows: rows, inDim: h, outDim: 2 * f, into: gu, ldy: 2 * f)
        if let b = w.gateUpBias { Kernels.addBias(gu, ldy: 2 * f, rows: rows, bias: b, n: 2 * f) }
        MatmulProfile.phase("swiglu") { Kernels.swiglu(gu, rows: rows, f: f, into: act) }
        ws.capture?(layer, .mlpHidden, act, rows, f, f)
        w.down.apply(act, ldx: f, rows: rows, inDim: f, outDim: h, into: x, ldy: h, accumulate: true)
        if let b = w.downBias { Kernels.addBias(x, ldy: h, rows: rows, bias: b, n: h) }
    }
}

// MARK: - Transformer block

/// Pre-norm decoder layer: `h += attn(norm1(h)); h += mlp(norm2(h))`.
struct LlamaTransformerBlock {
    let inputLayerNorm: TensorView
    let attention: LlamaAttention
    let postAttentionLayerNorm: TensorView
    let mlp: LlamaMLP
    let rmsNormEps: Float

    struct Loaded {
        let inputNorm: UnsafePointer<Float>
        let attention: LlamaAttention.Loaded
        let postNorm: UnsafePointer<Float>
        let mlp: LlamaMLP.Loaded
    }

    var arenaFloats: [Int] {
        [inputLayerNorm.elementCount, postAttentionLayerNorm.elementCount] + attention.arenaFloats + mlp.arenaFloats
    }

    /// Converts this layer's weights to F32 in `arena` (reset first: one layer at a time).
    /// With `direct` (steps of a few rows) the matrices stay as stored; only norms and biases
    /// are converted.
    func materialize(into arena: WeightArena, direct: Bool = false) throws -> Loaded {
        arena.reset()
        return Loaded(inputNorm: try arenaCopy(inputLayerNorm, arena),
                   attention: try attention.materialize(into: arena, direct: direct),
                   postNorm: try arenaCopy(postAttentionLayerNorm, arena),
                   mlp: try mlp.materialize(into: arena, direct: direct))
    }

    /// Runs the layer in place on the residual rows `x` (`[rows x hidden]`).
    func callAsFunction(_ w: Loaded, _ x: UnsafeMutablePointer<Float>, rows: Int, segments: [PackedSegment],
                        ws: LlamaWorkspace, cache: KVCache?, layer: Int) {
        let h = attention.hiddenSize
        let xn = ws.xn.pointer
        MatmulProfile.phase("norm") { Kernels.rmsNorm(x, ldx: h, rows: rows, dim: h, weight: w.inputNorm, eps: rmsNormEps, into: xn, ldo: h) }
        ws.capture?(layer, .attentionInput, xn, rows, h, h)
        attention(w.attention, normed: xn, residual: x, rows: rows, segments: segments, ws: ws, cache: cache, layer: layer)
        MatmulProfile.phase("norm") { Kernels.rmsNorm(x, ldx: h, rows: rows, dim: h, weight: w.postNorm, eps: rmsNormEps, into: xn, ldo: h) }
        ws.capture?(layer, .mlpInput, xn, rows, h, h)
        mlp(w.mlp, normed: xn, residual: x, rows: rows, ws: ws, layer: layer)
    }
}

// MARK: - Model

/// A Llama-family causal language model over a checkpoint's memory-mapped weights.
///
/// Creating one reads only headers and checks every tensor (see `LlamaWeightNames`); weights
/// are converted to F32 one layer at a time while a forward pass runs. The model is immutable
/// apart from a lazily built F32 copy of the output projection (guarded by a lock), so calls
/// from several threads are safe; each call allocates its own scratch.
public final class LlamaModel: @unchecked Sendable {
    public let config: ModelConfig
    let weights: LlamaWeights
    let rope: RotaryEmbedding
    let finalNorm: [Float]
    /// Sliding window of each layer (nil: full causal attention).
    public let slidingWindows: [Int?]
    private let lmHeadLock = NSLock()
    private var lmHeadF32: FloatBuffer?

    /// Opens the architecture of `checkpoint` (its config.json) over its weights.
    public convenience init(checkpoint: Checkpoint) throws {
        let config = try checkpoint.modelConfig()
        try self.init(config: config, weights: checkpoint.weights, origin: checkpoint.url.path,
                      slidingWindows: llamaSlidingWindows(config: config, json: checkpoint.configJSON))
    }

    /// A model over any tensor source, with an explicit config (nil windows: full attention).
    public init(config: ModelConfig, weights source: TensorSource, origin: String = "checkpoint",
                slidingWindows: [Int?]? = nil) throws {
        self.config = config
        let windows = slidingWindows ?? [Int?](repeating: nil, count: config.numHiddenLayers)
        guard windows.count == config.numHiddenLayers else {
            throw RecallError(.invalidArgument, "\(origin): \(windows.count) sliding windows for \(config.numHiddenLayers) layers")
        }
        if let bad = windows.first(where: { ($0 ?? 1) < 1 }) {
            throw RecallError(.invalidFile, "\(origin): sliding_window \(bad!) must be a positive number of tokens")
        }
        guard config.headDim % 2 == 0 else {
            throw RecallError(.unsupported, "\(origin): head_dim \(config.headDim) is odd; rotary embeddings need an even head_dim")
        }
        self.slidingWindows = windows
        weights = try LlamaWeights(source: source, config: config, origin: origin, windows: windows)
        rope = RotaryEmbedding(config: config)
        finalNorm = try weights.norm.toFloat32()
    }

    var qkvWidth: Int { (config.numAttentionHeads + 2 * config.numKeyValueHeads) * config.headDim }
    var layerArenaFloats: Int { weights.layers.map { WeightArena.plannedCapacity($0.arenaFloats) }.max() ?? 16 }

    /// Floats of scratch per packed token (activations of one layer).
    var floatsPerRow: Int {
        let c = config
        return c.hiddenSize + qkvWidth + c.numAttentionHeads * c.headDim + 3 * c.intermediateSize
    }

    /// Tokens per chunk: large enough for efficient sgemm, bounded to ~128 MB of scratch.
    var maxChunkRows: Int { chunkRowsOverride ?? max(64, min(4096, (32 << 20) / floatsPerRow)) }
    /// Tests set this to exercise chunking on tiny inputs.
    var chunkRowsOverride: Int?

    /// Output projection in F32 (`[vocab x hidden]`), converted once on first use.
    func lmHead() throws -> UnsafePointer<Float> {
        lmHeadLock.lock()
        defer { lmHeadLock.unlock() }
        if let b = lmHeadF32 { return UnsafePointer(b.pointer) }
        let b = FloatBuffer(weights.lmHead.elementCount)
        try weights.lmHead.copyFloat32(into: UnsafeMutableBufferPointer(start: b.pointer, count: weights.lmHead.elementCount))
        lmHeadF32 = b
        return UnsafePointer(b.pointer)
    }

    /// `rows` final-normed states (contiguous) times `lm_headᵀ` into `out` (`[rows x vocab]`):
    /// straight from the stored weights for a few rows, else sgemm on the F32 copy.
    func projectToVocabulary(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) throws {
        let h = config.hiddenSize, vocab = config.vocabSize
        if rows <= Projection.directRows {
            Matmul.linearDirect(x, ldx: h, rows: rows, inDim: h, weights: [weights.lmHead], into: out, ldy: vocab)
        } else {
            Matmul.linear(x, ldx: h, rows: rows, inDim: h, weight: try lmHead(), outDim: vocab, into: out, ldy: vocab)
        }
    }

    /// Writes the embedding rows of `tokens` into `x` (`[tokens x hidden]`).
    func embed(_ tokens: some Collection<Int>, into x: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize
        let e = weights.embedTokens
        let rowBytes = h * e.dtype.byteSize
        for (r, t) in tokens.enumerated() {
            FloatConversion.toFloat32(e.bytes.baseAddress! + t * rowBytes, dtype: e.dtype, into: x + r * h, count: h)
        }
    }

    /// Checks token ids against the vocabulary; `what` names the input in the error.
    package func validate(_ tokens: [Int], _ what: String) throws {
        guard !tokens.isEmpty else { throw RecallError(.invalidArgument, "\(what) is empty; it needs at least one token") }
        for (i, t) in tokens.enumerated() where t < 0 || t >= config.vocabSize {
            throw RecallError(.invalidArgument, "\(what): token id \(t) at position \(i) is outside the vocabulary 0..<\(config.vocabSize)")
        }
    }
}
