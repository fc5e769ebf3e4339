import Foundation
import RecallTensor

/// The rows of one sample inside a packed batch (samples sit row after row, unpadded).
struct PackedSegment {
    var row: Int
    var count: Int
    /// A branch continues a shared prefix: these rows then sit at positions `prefix.count...`
    /// and also attend to the prefix's rows (same chunk, `prefix.row..<prefix.row+prefix.count`).
    /// Several answer choices scored after one prompt share its rows this way.
    var prefix: (row: Int, count: Int)? = nil

    /// Keys a query of this segment can see at most (its last position + 1).
    var keys: Int { count + (prefix?.count ?? 0) }
}

/// Grouped-query causal self-attention over one sample (optionally with a sliding window).
///
/// Query row `i` has position `firstPosition + i` and sees the keys at positions
/// `max(0, p - window + 1) ... p` (transformers' causal mask, and `sliding_window_overlay`
/// `kv_idx > q_idx - window` when a window is set). Query head `h` reads key/value head
/// `h / (heads / kvHeads)` (`repeat_kv`). Scores are scaled by `1/sqrt(headDim)`.
///
/// Products run through sgemm per head and block of query rows (only the keys the block can
/// see), the masked softmax in place between them; the score scratch is `blockRows x keys`.
/// Short samples of a batch run concurrently (see `forEachSegment`).
struct CausalAttention {
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let window: Int?

    /// Query rows per block: bounds the score scratch and skips most masked products.
    static let blockRows = 128

    /// Floats of scratch `run` needs for a sample whose last key position is `keys - 1`.
    static func scratchCount(keys: Int) -> Int { blockRows * keys }

    /// OpenBLAS runs an sgemm with `m·n·k <= 65536 x GEMM_MULTITHREAD_THRESHOLD (4)` on the
    /// calling thread alone (interface/gemm.c); above that it uses its own threads.
    static let blasSingleThreadLimit = 262_144

    /// Calls `body(segment, worker)` for every segment. When all the samples are short enough
    /// that OpenBLAS would run their attention products single-threaded, the samples are spread
    /// over `Parallel.threadCount` workers (`worker` indexes each one's scratch); longer samples
    /// run one after the other, each product threaded by OpenBLAS itself.
    static func forEachSegment(_ segments: [PackedSegment], headDim: Int, _ body: (PackedSegment, Int) -> Void) {
        let longest = segments.map(\.keys).max() ?? 0
        let workers = min(Parallel.threadCount, segments.count)
        guard workers > 1, min(longest, blockRows) * longest * headDim <= blasSingleThreadLimit else {
            for s in segments { body(s, 0) }
            return
        }
        // Workers take the next segment under the lock, so a long sample does not hold up a
        // worker's fixed share.
        let lock = NSLock()
        var next = 0
        Parallel.forEach(count: workers) { worker in
            while true {
                lock.lock()
                let i = next
                next += 1
                lock.unlock()
                guard i < segments.count else { return }
                body(segments[i], worker)
            }
        }
    }

    /// - q: `n` query rows, head `h` at column `h*headDim`, row stride `ldq`, already rotated.
    /// - k, v: rows for key positions `0..<firstPosition+n` (row stride `ldk`/`ldv`), kv head
    ///   `g` at column `g*headDim`, keys rotated.
    /// - out: `n` rows, head `h` written at column `h*headDim`, row stride `ldo`.
    func run(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
             queries n: Int, firstPosition p0: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
             scratch: UnsafeMutablePointer<Float>) {
        let group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        let d = headDim
        var i0 = 0
        while i0 < n {
            let i1 = min(n, i0 + Self.blockRows)
            let rows = i1 - i0
            // Keys visible to any row of the block.
            let kStart = window.map { max(0, p0 + i0 - $0 + 1) } ?? 0
            let kEnd = p0 + i1  // exclusive
            let keys = kEnd - kStart
            for h in 0..<heads {
                let g = h / group
                // S[rows x keys] = scale · Q_blk · K_rangeᵀ
                Matmul.gemm(transA: false, transB: true, m: rows, n: keys, k: d, alpha: scale,
                            q + i0 * ldq + h * d, lda: ldq, k + kStart * ldk + g * d, ldb: ldk,
                            beta: 0, scratch, ldc: keys)
                for r in 0..<rows {
                    let p = p0 + i0 + r
                    let lo = window.map { max(0, p - $0 + 1) } ?? 0
                    Kernels.maskedSoftmax(scratch + r * keys, count: keys, lo: lo - kStart, hi: p - kStart)
                }
                // O_blk[rows x d] = P · V_range
                Matmul.gemm(transA: false, transB: false, m: rows, n: d, k: keys, alpha: 1,
                            scratch, lda: keys, v + kStart * ldv + g * d, ldb: ldv,
                            beta: 0, out + i0 * ldo + h * d, ldc: ldo)
            }
            i0 = i1
        }
    }
}
