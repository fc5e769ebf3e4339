import Foundation
import RecallTensor

/// The forward pass itself, read top to bottom: embed, then each layer widened once and run over
/// every chunk of packed samples, the final norm, and the KV-cached path generation uses.
extension LlamaModel {
    /// Runs every layer over the packed samples, calling `record(i, x)` with the `[tokens x
    /// hidden]` residual stream after the embedding (`i = 0`) and after each layer `i`; the
    /// last call (`i = L`) sees the stream with the final norm applied, as transformers'
    /// `hidden_states[-1]`. Samples are processed in chunks of whole samples.
    package func forward(_ batch: [[Int]], capture: ActivationCapture? = nil,
                 record: (Int, UnsafeMutablePointer<Float>) throws -> Void) throws {
        try forward(trees: batch.map { PrefixTree(prefix: $0, branches: []) }, capture: capture, record: record)
    }

    /// A prompt and continuations that each follow it (answer choices): packed as the prefix's
    /// rows then each branch's rows, every branch attending to the prefix and to itself, at
    /// positions `prefix.count...`. Equals running `prefix + branch` for each branch alone.
    struct PrefixTree {
        var prefix: [Int]
        var branches: [[Int]]
        var rows: Int { branches.reduce(prefix.count) { $0 + $1.count } }
    }

    /// `forward(_:record:)` over prefix trees: the rows of tree `t` are its prefix, then its
    /// branches in order; `record` sees every tree's rows packed one after the other.
    func forward(trees: [PrefixTree], capture: ActivationCapture? = nil,
                 record: (Int, UnsafeMutablePointer<Float>) throws -> Void) throws {
        let h = config.hiddenSize
        let total = trees.reduce(0) { $0 + $1.rows }
        let x = FloatBuffer(total * h)
        var tokens: [Int] = []
        tokens.reserveCapacity(total)
        for t in trees { tokens += t.prefix; for b in t.branches { tokens += b } }
        embed(tokens, into: x.pointer)
        try record(0, x.pointer)
        if total == 0 {
            for l in weights.layers.indices { try record(l + 1, x.pointer) }
            return
        }

        // Chunks of whole trees, each at most maxChunkRows rows unless one tree is longer.
        var chunks: [(row: Int, segments: [PackedSegment], positions: [Int32])] = []
        var row = 0
        var current: [PackedSegment] = [], positions: [Int32] = []
        var chunkStart = 0
        for t in trees {
            if !current.isEmpty && positions.count + t.rows > maxChunkRows {
                chunks.append((chunkStart, current, positions))
                current = []
                positions = []
                chunkStart = row
            }
            let prefix = (row: row - chunkStart, count: t.prefix.count)
            if prefix.count > 0 { current.append(PackedSegment(row: prefix.row, count: prefix.count)) }
            positions += (0..<t.prefix.count).map(Int32.init)
            row += t.prefix.count
            for b in t.branches where !b.isEmpty {
                current.append(PackedSegment(row: row - chunkStart, count: b.count, prefix: prefix))
                positions += (t.prefix.count..<(t.prefix.count + b.count)).map(Int32.init)
                row += b.count
            }
        }
        if !current.isEmpty { chunks.append((chunkStart, current, positions)) }

        let ws = LlamaWorkspace(model: self)
        ws.capture = capture
        let maxRows = chunks.map(\.positions.count).max() ?? 0
        let maxKeys = chunks.flatMap { $0.segments.map(\.keys) }.max() ?? 0
        ws.prepare(model: self, rows: maxRows, maxPosition: maxKeys)

        for (l, layer) in weights.layers.enumerated() {
            let w = try MatmulProfile.phase("weights") {
                try layer.materialize(into: ws.arena, direct: total <= Projection.directRows)
            }
            for c in chunks {
                ws.positions = c.positions
                layer(w, x.pointer + c.row * h, rows: c.positions.count, segments: c.segments, ws: ws, cache: nil, layer: l)
            }
            if l == weights.layers.count - 1 {
                finalNormInPlace(x.pointer, rows: total)
            }
            try MatmulProfile.phase("record") { try record(l + 1, x.pointer) }
        }
    }

    func finalNormInPlace(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        let h = config.hiddenSize
        finalNorm.withUnsafeBufferPointer {
            Kernels.rmsNorm(x, ldx: h, rows: rows, dim: h, weight: $0.baseAddress!, eps: Float(config.rmsNormEps), into: x, ldo: h)
        }
    }

    /// Runs `rows` new tokens of one sequence through every layer with a KV cache; the rows of
    /// `x` end holding the final-normed states. Positions continue at `cache.length`.
    func forwardCached(_ x: UnsafeMutablePointer<Float>, rows: Int, cache: KVCache, ws: LlamaWorkspace) throws {
        ws.prepare(model: self, rows: rows, maxPosition: cache.length + rows)
        ws.positions = (0..<rows).map { Int32(cache.length + $0) }
        for (l, layer) in weights.layers.enumerated() {
            let w = try layer.materialize(into: ws.arena, direct: rows <= Projection.directRows)
            layer(w, x, rows: rows, segments: [PackedSegment(row: 0, count: rows)], ws: ws, cache: cache, layer: l)
        }
        cache.length += rows
        finalNormInPlace(x, rows: rows)
    }
}
