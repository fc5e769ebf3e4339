import Foundation
import RecallTensor

/// How per-token hidden states are reduced to one vector per sample and layer.
public enum Pooling: Equatable, Sendable {
    /// Mean over all tokens of the sample.
    case mean
    /// Mean over tokens 1..., skipping the first (often a BOS/attention-sink token). A
    /// one-token sample falls back to that token.
    case meanExcludingFirst
    /// As `meanExcludingFirst`, then also dropping the positions whose state L2 norm exceeds
    /// `ratio` x the median norm of the remaining positions. Decided per layer and per sample
    /// (each layer has its own outliers); the median of an even count is the mean of the two
    /// middle norms. A one-token sample falls back to that token.
    case meanExcludingFirstAndOutliers(ratio: Float)
}

/// What `hiddenStates` computes besides the pooled states.
public struct ForwardOptions: Equatable, Sendable {
    /// Also return every token's state of every layer.
    public var perTokenStates: Bool
    public var pooling: Pooling

    public init(perTokenStates: Bool = false, pooling: Pooling = .mean) {
        self.perTokenStates = perTokenStates
        self.pooling = pooling
    }
}

/// Hidden states of a batch, with transformers' `output_hidden_states` meaning.
///
/// Layer 0 is the embedding output, layer `i` (1...L) the output of decoder layer `i`, and the
/// last one (L) has the model's final RMSNorm applied. That last point is what transformers
/// 5.24 does: `capture_outputs(tie_last_hidden_states=True)` (utils/output_capturing.py)
/// replaces `hidden_states[-1]` with `last_hidden_state`, i.e. `norm(output of layer L)`;
/// tools/gen_llama_fixtures.py asserts this against the installed version.
public struct HiddenStates: Sendable {
    /// L + 1.
    public let layerCount: Int
    public let sampleCount: Int
    public let hiddenSize: Int
    /// Tokens of each sample.
    public let tokenCounts: [Int]
    /// Pooled states, `[layerCount][sampleCount][hiddenSize]` flattened (layer-major).
    public let pooled: [Float]
    /// With `perTokenStates`: `perToken[layer][sample]` is `[tokens x hidden]`, row-major.
    public let perToken: [[[Float]]]?

    /// The pooled state of one sample at one layer.
    public func pooled(layer: Int, sample: Int) -> ArraySlice<Float> {
        let start = (layer * sampleCount + sample) * hiddenSize
        return pooled[start..<(start + hiddenSize)]
    }
}

extension LlamaModel {
    /// Hidden states of every sample (any mix of lengths) at every layer, pooled as asked.
    /// Samples never see each other: the result for a sample equals running it alone.
    public func hiddenStates(_ batch: [[Int]], options: ForwardOptions = ForwardOptions()) throws -> HiddenStates {
        for (i, s) in batch.enumerated() { try validate(s, "sample \(i)") }
        let h = config.hiddenSize
        let layers = config.numHiddenLayers + 1
        let starts = batch.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        var pooled = [Float](repeating: 0, count: layers * batch.count * h)
        var perToken: [[[Float]]]? = options.perTokenStates ? [] : nil
        var norms: [Double] = []
        try forward(batch) { layer, x in
            pooled.withUnsafeMutableBufferPointer { out in
                for (s, sample) in batch.enumerated() {
                    let dst = out.baseAddress! + (layer * batch.count + s) * h
                    let base = x + starts[s] * h
                    let n = sample.count
                    switch options.pooling {
                    case .mean:
                        Kernels.meanRows(base, ld: h, rows: 0..<n, dim: h, into: dst)
                    case .meanExcludingFirst:
                        Kernels.meanRows(base, ld: h, rows: n > 1 ? 1..<n : 0..<1, dim: h, into: dst)
                    case .meanExcludingFirstAndOutliers(let ratio):
                        guard n > 1 else {
                            Kernels.meanRows(base, ld: h, rows: 0..<1, dim: h, into: dst)
                            break
                        }
                        norms.removeAll(keepingCapacity: true)
                        for r in 1..<n { norms.append(Kernels.norm(base + r * h, dim: h)) }
                        let threshold = Double(ratio) * Kernels.median(norms)
                        let kept = (1..<n).filter { norms[$0 - 1] <= threshold }
                        Kernels.meanRows(base, ld: h, rows: kept.isEmpty ? Array(1..<n) : kept, dim: h, into: dst)
                    }
                }
            }
            if options.perTokenStates {
                perToken!.append(batch.indices.map { s in
                    Array(UnsafeBufferPointer(start: x + starts[s] * h, count: batch[s].count * h))
                })
            }
        }
        return HiddenStates(layerCount: layers, sampleCount: batch.count, hiddenSize: h,
                            tokenCounts: batch.map(\.count), pooled: pooled, perToken: perToken)
    }

    /// Logits (`vocab` values) at the last position of `tokens`.
    public func logits(_ tokens: [Int]) throws -> [Float] {
        try validate(tokens, "tokens")
        var result: [Float] = []
        try forward([tokens]) { layer, x in
            guard layer == config.numHiddenLayers else { return }
            result = try projectToVocabulary(x + (tokens.count - 1) * config.hiddenSize, rows: 1)
        }
        return result
    }

    /// `log p(continuation[j] | prompt + continuation[..<j])` for each continuation token.
    public func logProbabilities(prompt: [Int], continuation: [Int]) throws -> [Float] {
        try logProbabilities([(prompt: prompt, continuation: continuation)])[0]
    }

    /// Batched `logProbabilities(prompt:continuation:)`: one forward pass over all pairs.
    public func logProbabilities(_ pairs: [(prompt: [Int], continuation: [Int])]) throws -> [[Float]] {
        try logProbabilities(groups: pairs.map { [$0] }).map { $0[0] }
    }

    /// `logProbabilities` for groups of pairs that share a prompt (an item's answer choices):
    /// the tokens all pairs of a group have in common are run once and each pair's remainder
    /// attends to them (`PrefixTree`), which scores a 4-choice item at about a third of the
    /// tokens. Results equal scoring each pair alone.
    public func logProbabilities(groups: [[(prompt: [Int], continuation: [Int])]]) throws -> [[[Float]]] {
        for (g, group) in groups.enumerated() {
            for (i, p) in group.enumerated() {
                try validate(p.prompt, "group \(g) pair \(i) prompt")
                if !p.continuation.isEmpty { try validate(p.continuation, "group \(g) pair \(i) continuation") }
            }
        }
        let h = config.hiddenSize, vocab = config.vocabSize
        var trees: [PrefixTree] = []
        // (packed row predicting the token, token) for every continuation token, group by group.
        var targets: [(row: Int, token: Int)] = []
        var treeStart = 0
        for group in groups {
            let full = group.map { $0.prompt + $0.continuation }
            var shared = full.map(\.count).min() ?? 0
            for f in full.dropFirst() { shared = min(shared, zip(full[0], f).prefix { $0 == $1 }.count) }
            let tree = PrefixTree(prefix: Array((full.first ?? []).prefix(shared)), branches: full.map { Array($0[shared...]) })
            var branchStart = treeStart + shared
            for (p, branch) in zip(group, tree.branches) {
                for (j, t) in p.continuation.enumerated() {
                    let position = p.prompt.count - 1 + j
                    targets.append((position < shared ? treeStart + position : branchStart + position - shared, t))
                }
                branchStart += branch.count
            }
            trees.append(tree)
            treeStart += tree.rows
        }
        if targets.isEmpty { return groups.map { $0.map { _ in [] } } }
        var values = [Float](repeating: 0, count: targets.count)
        try forward(trees: trees) { layer, x in
            guard layer == config.numHiddenLayers else { return }
            try MatmulProfile.phase("lm_head") {
                let block = 256
                let rows = FloatBuffer(min(block, targets.count) * h)
                let logits = FloatBuffer(min(block, targets.count) * vocab)
                var t0 = 0
                while t0 < targets.count {
                    let m = min(block, targets.count - t0)
                    for r in 0..<m { (rows.pointer + r * h).update(from: x + targets[t0 + r].row * h, count: h) }
                    try projectToVocabulary(rows.pointer, rows: m, into: logits.pointer)
                    values.withUnsafeMutableBufferPointer { out in
                        Parallel.forChunks(count: m, elementBytes: vocab * 4) { start, n in
                            for r in start..<(start + n) {
                                let row = logits.pointer + r * vocab
                                out[t0 + r] = Float(Double(row[targets[t0 + r].token]) - Kernels.logSumExp(row, count: vocab))
                            }
                        }
                    }
                    t0 += m
                }
            }
        }
        var k = 0
        return groups.map { group in
            group.map { p in
                defer { k += p.continuation.count }
                return Array(values[k..<(k + p.continuation.count)])
            }
        }
    }

    /// Greedy decoding with a KV cache: up to `maxNewTokens` new tokens (the prompt is not
    /// repeated). Stops after emitting a token of `stop`, which is included, as transformers'
    /// `generate` does. Ties go to the lowest token id, like `torch.argmax`.
    public func greedy(prompt: [Int], maxNewTokens: Int, stop: Set<Int>) throws -> [Int] {
        try validate(prompt, "prompt")
        guard maxNewTokens >= 0 else { throw RecallError(.invalidArgument, "maxNewTokens must be >= 0, got \(maxNewTokens)") }
        guard maxNewTokens > 0 else { return [] }
        let h = config.hiddenSize
        let cache = KVCache(layers: config.numHiddenLayers, width: config.numKeyValueHeads * config.headDim,
                            capacity: prompt.count + maxNewTokens)
        let ws = LlamaWorkspace(model: self)
        let x = FloatBuffer(min(prompt.count, maxChunkRows) * h)
        var out: [Int] = []
        // Prefill in chunks; only the last chunk's last row is projected.
        var start = 0
        var next = 0
        while start < prompt.count {
            let n = min(maxChunkRows, prompt.count - start)
            embed(prompt[start..<(start + n)], into: x.pointer)
            try forwardCached(x.pointer, rows: n, cache: cache, ws: ws)
            start += n
            if start == prompt.count {
                let logits = try projectToVocabulary(x.pointer + (n - 1) * h, rows: 1)
                next = Kernels.argmax(logits, count: logits.count)
            }
        }
        while true {
            out.append(next)
            if out.count == maxNewTokens || stop.contains(next) { break }
            embed([next], into: x.pointer)
            try forwardCached(x.pointer, rows: 1, cache: cache, ws: ws)
            let logits = try projectToVocabulary(x.pointer, rows: 1)
            next = Kernels.argmax(logits, count: logits.count)
        }
        return out
    }

    /// `rows` final-normed states (contiguous) times `lm_headᵀ`: `[rows x vocab]`.
    func projectToVocabulary(_ x: UnsafePointer<Float>, rows: Int) throws -> [Float] {
        let vocab = config.vocabSize
        return try [Float](unsafeUninitializedCapacity: rows * vocab) { buf, n in
            try projectToVocabulary(x, rows: rows, into: buf.baseAddress!)
            n = rows * vocab
        }
    }
}
