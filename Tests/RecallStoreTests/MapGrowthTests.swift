import XCTest
@testable import RecallStore
import RecallTestSupport

/// Growing the LMDB map (`mdb_env_set_mapsize`: the map is unmapped and mapped again) while
/// other threads read. LMDB requires that no transaction of the process is open then; a reader
/// that began between the gate's check and the resize read the old, unmapped map and crashed
/// the daemon (a SIGSEGV in liblmdb during a sequential bench-cl run, when a merge's parallel
/// readers met the put's writer doubling a 1 GiB map).
final class MapGrowthTests: XCTestCase {
    func testReadersRunWhileTheWriterGrowsTheMap() throws {
        let dir = try makeTempDirectory(self)
        let env = try LMDBEnvironment(path: dir, initialMapSize: 1 << 20)
        let value = [UInt8]((0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try env.write { try $0.put("chunks", [0], value) }
        let stop = Atomic(false)
        let failures = Atomic(0)
        let readers = (0..<3).map { _ in
            Thread {
                while !stop.value {
                    do {
                        let ok = try env.read { txn in try txn.withValue("chunks", [0]) { $0.map { $0.count == value.count && $0.last == value.last } ?? false } }
                        if !ok { failures.mutate { $0 += 1 } }
                    } catch { failures.mutate { $0 += 1 } }
                }
            }
        }
        readers.forEach { $0.start() }
        // 24 MiB of new values through a 1 MiB map: about five doublings, each with readers busy.
        let start = env.mapSize
        for i in 1...384 {
            try env.write { try $0.put("chunks", withUnsafeBytes(of: UInt32(i).bigEndian) { [UInt8]($0) }, value) }
        }
        stop.value = true
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertGreaterThanOrEqual(env.mapSize, start * 16, "the map grew while they read")
        XCTAssertEqual(failures.value, 0)
    }
}

/// A value shared between test threads under a lock.
final class Atomic<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
