import XCTest
@testable import RecallTensor

/// Large tensor buffers are reused (best fit, at most twice the request), bounded in bytes,
/// and small ones never kept.
final class BufferCacheTests: XCTestCase {
    func testReusesTheSmallestFittingBufferWithinItsLimit() {
        let cache = BufferCache(limitBytes: 10 << 20, minimumBytes: 1 << 20)
        defer { cache.drain() }
        let a = cache.take(4 << 20), b = cache.take(2 << 20)
        XCTAssertEqual(a.capacity, 4 << 20)
        cache.recycle(a.pointer, capacity: a.capacity)
        cache.recycle(b.pointer, capacity: b.capacity)
        XCTAssertEqual(cache.heldBytes, 6 << 20)

        let c = cache.take(2 << 20 - 4096)
        XCTAssertEqual(c.pointer, b.pointer, "the 2 MiB buffer fits best")
        XCTAssertEqual(c.capacity, 2 << 20)
        let d = cache.take(1 << 20)
        XCTAssertNotEqual(d.pointer, a.pointer, "a 4 MiB buffer is more than twice 1 MiB: not handed out")
        XCTAssertEqual(d.capacity, 1 << 20)
        let e = cache.take(3 << 20)
        XCTAssertEqual(e.pointer, a.pointer)
        XCTAssertEqual(cache.heldBytes, 0)

        // Small buffers are freed, not kept; past the limit the oldest go.
        let small = cache.take(1000)
        cache.recycle(small.pointer, capacity: small.capacity)
        XCTAssertEqual(cache.heldBytes, 0)
        for x in [c, d, e] { cache.recycle(x.pointer, capacity: x.capacity) }
        XCTAssertEqual(cache.heldBytes, 7 << 20)
        let big = cache.take(5 << 20)
        XCTAssertEqual(big.capacity, 5 << 20, "nothing kept holds 5 MiB")
        cache.recycle(big.pointer, capacity: big.capacity)
        XCTAssertEqual(cache.heldBytes, 10 << 20, "the oldest (2 MiB) went to stay within 10 MiB")
        let f = cache.take(2 << 20)
        XCTAssertEqual(f.pointer, e.pointer, "the 2 MiB buffer is gone; the 4 MiB one fits best now")
        cache.recycle(f.pointer, capacity: f.capacity)
    }

    func testTensorStorageGoesThroughTheSharedCache() {
        let size = BufferCache.shared.minimumBytes * 2 + 64
        var first: UnsafeMutableRawPointer?
        do {
            let s = TensorStorage(byteCount: size)
            first = s.pointer
            s.mutableBytes.initializeMemory(as: UInt8.self, repeating: 7)
        }
        let again = TensorStorage(byteCount: size)
        XCTAssertEqual(again.pointer, first, "the freed buffer is handed out again")
        XCTAssertEqual(again.count, size)
    }
}
