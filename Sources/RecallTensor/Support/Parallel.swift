import Foundation

/// Splits element-wise work over the machine's cores.
///
/// Small jobs run inline: below about a megabyte of traffic the cost of waking a second
/// thread is larger than the work.
public enum Parallel {
    /// Number of worker threads to use; `RECALL_THREADS` overrides the core count.
    public static let threadCount: Int = {
        if let s = ProcessInfo.processInfo.environment["RECALL_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body(start, count)` for disjoint ranges covering `0..<count`, possibly concurrently.
    /// `elementBytes` is the memory traffic per element, used to decide whether splitting pays.
    public static func forChunks(count: Int, elementBytes: Int, minBytesPerChunk: Int = 1 << 20,
                                 _ body: (Int, Int) -> Void) {
        let chunks = min(threadCount, max(1, count * elementBytes / minBytesPerChunk))
        if chunks <= 1 {
            if count > 0 { body(0, count) }
            return
        }
        // Chunk boundaries on multiples of 64 elements keep SIMD loops on their fast path.
        let per = ((count + chunks - 1) / chunks + 63) & ~63
        withoutActuallyEscaping(body) { body in
            let disjoint = DisjointRanges(body: body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let start = c * per
                let n = min(per, count - start)
                if n > 0 { disjoint.body(start, n) }
            }
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, concurrently over the cores; for a few
    /// large independent items (chunks to compress), where `forChunks`'s byte heuristic does not apply.
    /// Each call must touch only what belongs to its own `i`.
    public static func forEach(count: Int, _ body: (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let disjoint = DisjointItems(body: body)
            DispatchQueue.concurrentPerform(iterations: count) { disjoint.body($0) }
        }
    }

    /// `body` crosses to the worker threads although it is not `Sendable`: each call gets its
    /// own range, disjoint from every other, so no two threads touch the same elements, and
    /// `concurrentPerform` returns only after every call has.
    private struct DisjointRanges: @unchecked Sendable {
        let body: (Int, Int) -> Void
    }

    /// `forEach`'s body, sent to the worker threads on the same terms: item `i` is touched by call `i` only.
    private struct DisjointItems: @unchecked Sendable {
        let body: (Int) -> Void
    }
}
