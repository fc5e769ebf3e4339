import Foundation
import RecallTensor

/// Self-attention: q/k/v projections (fused into one product), RoPE on q and k, grouped-query
/// causal attention, o projection added to the residual stream.
struct LlamaAttention {
    let qProj, kProj, vProj, oProj: LinearWeights
    let heads, kvHeads, headDim, hiddenSize: Int
    let attention: CausalAttention

    /// Weights for one step: `qkv` is `[(heads + 2 kvHeads)·headDim x hidden]`, q rows then k
    /// then v (one product); biases in F32.
    struct Loaded {
        let qkv: Projection
        let qkvBias: UnsafePointer<Float>?
        let o: Projection
        let oBias: UnsafePointer<Float>?
    }

    var qkvWidth: Int { (heads + 2 * kvHeads) * headDim }
    var arenaFloats: [Int] {
        [qkvWidth * hiddenSize, qProj.bias == nil ? 0 : qkvWidth, oProj.outDim * oProj.inDim, oProj.bias == nil ? 0 : hiddenSize]
    }

    /// `direct`: keep the stored matrices (few-row steps); else convert them into `arena`.
    func materialize(into arena: WeightArena, direct: Bool) throws -> Loaded {
        let parts = [qProj, kProj, vProj]
        let qkv: Projection
        if direct {
            qkv = .stored(parts.map(\.weight))
        } else {
            let p = arena.take(qkvWidth * hiddenSize)
            var offset = 0
            for part in parts {
                try part.weight.copyFloat32(into: UnsafeMutableBufferPointer(start: p + offset, count: part.weight.elementCount))
                offset += part.weight.elementCount
            }
            qkv = .f32(p)
        }
        var qkvBias: UnsafeMutablePointer<Float>?
        if qProj.bias != nil {
            let b = arena.take(qkvWidth)
            var off = 0
            for part in parts {
                try part.bias!.copyFloat32(into: UnsafeMutableBufferPointer(start: b + off, count: part.outDim))
                off += part.outDim
            }
            qkvBias = b
        }
        let o: Projection = direct ? .stored([oProj.weight]) : .f32(try arenaCopy(oProj.weight, arena))
        return Loaded(qkv: qkv, qkvBias: qkvBias, o: o, oBias: try oProj.bias.map { try arenaCopy($0, arena) })
    }

    /// `x += o_proj(attention(xn))` over `rows` packed rows.
    /// Without a cache every segment starts at position 0; with one (a single segment) the new
    /// rows continue at `cache.length` and their keys/values are appended to `cacheLayer`.
    func callAsFunction(_ w: Loaded, normed xn: UnsafePointer<Float>, residual x: UnsafeMutablePointer<Float>,
                        rows: Int, segments: [PackedSegment], ws: LlamaWorkspace, cache: KVCache?, layer: Int) {
        let d = headDim
        let width = qkvWidth
        let qkv = ws.qkv.pointer
        w.qkv.apply(xn, ldx: hiddenSize, rows: rows, inDim: hiddenSize, outDim: width, into: qkv, ldy: width)
        if let b = w.qkvBias { Kernels.addBias(qkv, ldy: width, rows: rows, bias: b, n: width) }

        // RoPE on the q and k heads (adjacent columns), each row at its own position.
        MatmulProfile.phase("rope") {
        ws.positions.withUnsafeBufferPointer { pos in
            ws.ropeCos.withUnsafeBufferPointer { cos in
                ws.ropeSin.withUnsafeBufferPointer { sin in
                    RotaryEmbedding.apply(qkv, ld: width, rows: rows, column: 0, heads: heads + kvHeads, headDim: d,
                                          positions: pos.baseAddress!, cos: cos.baseAddress!, sin: sin.baseAddress!)
                }
            }
        }
        }

        let out = ws.attn.pointer
        let ldo = heads * d
        let kCol = heads * d, vCol = (heads + kvHeads) * d
        MatmulProfile.phase("attention") {
        if let cache {
            precondition(segments.count == 1 && cache.length + rows <= cache.capacity)
            let kvw = kvHeads * d
            let kc = cache.keys[layer].pointer, vc = cache.values[layer].pointer
            for r in 0..<rows {
                (kc + (cache.length + r) * kvw).update(from: qkv + r * width + kCol, count: kvw)
                (vc + (cache.length + r) * kvw).update(from: qkv + r * width + vCol, count: kvw)
            }
            attention.run(q: qkv, ldq: width, k: kc, ldk: kvw, v: vc, ldv: kvw,
                          queries: rows, firstPosition: cache.length, out: out, ldo: ldo, scratch: ws.scores.pointer)
        } else {
            let scratchPer = CausalAttention.scratchCount(keys: segments.map(\.keys).max() ?? 0)
            let kvw = kvHeads * d
            let gatherPer = 2 * kvw * (segments.filter { $0.prefix != nil }.map(\.keys).max() ?? 0)
            CausalAttention.forEachSegment(segments, headDim: d) { s, worker in
                let base = qkv + s.row * width
                guard let prefix = s.prefix else {
                    attention.run(q: base, ldq: width, k: base + kCol, ldk: width, v: base + vCol, ldv: width,
                                  queries: s.count, firstPosition: 0, out: out + s.row * ldo, ldo: ldo,
                                  scratch: ws.scores.pointer + worker * scratchPer)
                    return
                }
                // A branch: gather the prefix's keys/values and its own into one contiguous run
                // (a few rows of kv width; far cheaper than recomputing the prefix per branch).
                let keys = ws.kvGather.pointer + worker * gatherPer, values = keys + s.keys * kvw
                for (i, row) in (Array(prefix.row..<(prefix.row + prefix.count)) + Array(s.row..<(s.row + s.count))).enumerated() {
                    (keys + i * kvw).update(from: qkv + row * width + kCol, count: kvw)
                    (values + i * kvw).update(from: qkv + row * width + vCol, count: kvw)
                }
                attention.run(q: base, ldq: width, k: keys, ldk: kvw, v: values, ldv: kvw,
                              queries: s.count, firstPosition: prefix.count, out: out + s.row * ldo, ldo: ldo,
                              scratch: ws.scores.pointer + worker * scratchPer)
            }
        }
        }
        ws.capture?(layer, .attentionOutput, out, rows, ldo, ldo)
        w.o.apply(out, ldx: ldo, rows: rows, inDim: ldo, outDim: hiddenSize, into: x, ldy: hiddenSize, accumulate: true)
        if let b = w.oBias { Kernels.addBias(x, ldy: hiddenSize, rows: rows, bias: b, n: hiddenSize) }
    }
}
