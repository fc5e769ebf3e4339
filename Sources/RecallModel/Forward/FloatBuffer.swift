import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A 64-byte aligned, growable F32 scratch buffer owned by one forward call.
///
/// Contents are not preserved when it grows; callers size it before a phase and write it fully.
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ count: Int = 0) {
        capacity = max(count, 16)
        pointer = FloatBuffer.allocate(capacity)
    }

    deinit { free(pointer) }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, 64, max(count, 16) * MemoryLayout<Float>.stride)
        guard rc == 0, let raw else { fatalError("FloatBuffer: cannot allocate \(count) floats") }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    /// Makes room for `count` floats (discarding the contents when it has to grow).
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            free(pointer)
            capacity = count
            pointer = FloatBuffer.allocate(count)
        }
        return pointer
    }

    /// The first `count` values as a new array.
    func array(_ count: Int, from offset: Int = 0) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer + offset, count: count))
    }
}

/// Bump allocator over one `FloatBuffer` for a layer's F32 weights: `reset()` per layer, so
/// the memory held is one layer's worth however many layers stream through it.
final class WeightArena {
    private let buffer: FloatBuffer
    private var used = 0

    init(capacity: Int) { buffer = FloatBuffer(capacity) }

    var capacity: Int { buffer.capacity }

    func reset() { used = 0 }

    /// `count` floats, 64-byte aligned.
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let start = (used + 15) & ~15
        precondition(start + count <= buffer.capacity, "WeightArena: layer needs more than the planned \(buffer.capacity) floats")
        used = start + count
        return buffer.pointer + start
    }

    /// Floats needed for tensors of the given element counts (with alignment padding).
    static func plannedCapacity(_ counts: [Int]) -> Int {
        counts.reduce(0) { $0 + (($1 + 15) & ~15) }
    }
}
