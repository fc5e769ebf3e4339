import Foundation

/// Per-layer key/value cache for incremental decoding of one sequence.
final class KVCache {
    let keys: [FloatBuffer]
    let values: [FloatBuffer]
    let width: Int
    let capacity: Int
    /// Positions already stored.
    var length = 0

    init(layers: Int, width: Int, capacity: Int) {
        keys = (0..<layers).map { _ in FloatBuffer(width * capacity) }
        values = (0..<layers).map { _ in FloatBuffer(width * capacity) }
        self.width = width
        self.capacity = capacity
    }
}
