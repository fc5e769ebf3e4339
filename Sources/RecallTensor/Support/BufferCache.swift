import Foundation

/// Large tensor buffers kept after use and handed out again, so streaming a model tensor by
/// tensor (export, a forward pass or a merge reading the store) reuses a few resident buffers
/// instead of asking the kernel for new pages for every tensor.
///
/// Why: glibc serves allocations above 32 MB with a fresh `mmap` and returns them with
/// `munmap` on free, so every big tensor's pages are faulted in and zeroed again. Here, 90 MB
/// (a 7B MLP weight) allocated, filled and freed 40 times ran at 1.8-1.9 GB/s against 25 GB/s
/// for refilling one buffer; on this VM, memory the host has taken back is slower still
/// (TensorStorage). At 7B a stream touches ~12 GB of such buffers per pass over the model.
///
/// Only buffers of at least `minimumBytes` are kept, at most `limitBytes` in all (the oldest
/// go first; the registry drains the cache when a job ends), and a request takes the smallest kept buffer that holds it, if that is at most
/// twice its size (a small tensor does not pin the buffer a big one needs next). Contents are
/// not cleared: like any fresh allocation, a buffer must be written before it is read.
public final class BufferCache: @unchecked Sendable {
    /// 256 MB: two 7B MLP weights (90 MB each: the tensor being written and the next one), and
    /// room in the 2 GB anonymous budget of a 7B register (the RegMean register peaked at 2.12 GiB
    /// with 512 MB kept).
    public static let shared = BufferCache(limitBytes: 256 << 20, minimumBytes: 4 << 20)

    public let limitBytes: Int
    public let minimumBytes: Int
    private let lock = NSLock()
    /// Kept buffers, oldest first.
    private var kept: [(pointer: UnsafeMutableRawPointer, capacity: Int)] = []
    private var keptBytes = 0

    public init(limitBytes: Int, minimumBytes: Int) {
        self.limitBytes = limitBytes
        self.minimumBytes = minimumBytes
    }

    /// A 64-byte aligned buffer of at least `byteCount` bytes and its capacity (give it back with `recycle`).
    public func take(_ byteCount: Int) -> (pointer: UnsafeMutableRawPointer, capacity: Int) {
        if byteCount >= minimumBytes {
            let reused: (UnsafeMutableRawPointer, Int)? = lock.withLock {
                var best: Int?
                for (i, b) in kept.enumerated() where b.capacity >= byteCount && b.capacity <= 2 * byteCount {
                    if best.map({ b.capacity < kept[$0].capacity }) ?? true { best = i }
                }
                guard let best else { return nil }
                let b = kept.remove(at: best)
                keptBytes -= b.capacity
                return b
            }
            if let reused { return reused }
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64), max(byteCount, 1))
    }

    /// Keeps a buffer from `take` for the next request, or frees it.
    public func recycle(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        guard capacity >= minimumBytes, capacity <= limitBytes else { pointer.deallocate(); return }
        let evicted: [UnsafeMutableRawPointer] = lock.withLock {
            kept.append((pointer, capacity))
            keptBytes += capacity
            var out: [UnsafeMutableRawPointer] = []
            while keptBytes > limitBytes {
                let oldest = kept.removeFirst()
                keptBytes -= oldest.capacity
                out.append(oldest.pointer)
            }
            return out
        }
        for p in evicted { p.deallocate() }
    }

    /// Bytes held for reuse.
    public var heldBytes: Int { lock.withLock { keptBytes } }

    /// Frees every kept buffer.
    public func drain() {
        let all: [UnsafeMutableRawPointer] = lock.withLock {
            defer { kept.removeAll(); keptBytes = 0 }
            return kept.map(\.pointer)
        }
        for p in all { p.deallocate() }
    }
}
