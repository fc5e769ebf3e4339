import Foundation
import XCTest
@testable import RecallStore
import RecallTestSupport

/// Kills a real store-writing process (RecallBench store-stress) with SIGKILL at seeded random
/// moments, reopens the store, and checks that every acknowledged version is intact.
final class StoreCrashTests: XCTestCase {
    var helper: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("RecallBench").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("RecallBench")
    }

    func testAcknowledgedVersionsSurviveSIGKILL() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["RECALL_CRASH_ITERATIONS"] ?? "") ?? 4
        var rng = SeededGenerator(seed: 2024)
        let home = try makeTempDirectory(self)
        var acknowledged: [(Int, String)] = []
        for iteration in 0..<iterations {
            let p = Process()
            p.executableURL = helper
            p.arguments = ["store-stress", home.path, "--seed", String(iteration + 1)]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            // Collect the helper's lines as they come; the first ACK starts the clock, so a slow
            // (loaded) machine still kills it mid-work rather than before it wrote anything.
            let firstAck = DispatchSemaphore(value: 0)
            let collected = LockedText()
            let reader = out.fileHandleForReading, drained = DispatchSemaphore(value: 0)
            try p.run()
            Thread.detachNewThread {
                while case let data = reader.availableData, !data.isEmpty {
                    if collected.append(data) { firstAck.signal() }
                }
                drained.signal()
            }
            guard firstAck.wait(timeout: .now() + 60) == .success else {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                drained.wait()
                return XCTFail("iteration \(iteration): the helper acknowledged no version within 60 s")
            }
            // Then let it work a random 0-1.2 s more and kill it without warning.
            usleep(UInt32.random(in: 0...1_200_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            drained.wait()  // the pipe reaches EOF once the helper is gone
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "iteration \(iteration): the helper must be killed mid-work")
            // Only whole lines: a kill can cut the last one short.
            for line in collected.completeLines() where line.hasPrefix("ACK ") {
                let parts = line.split(separator: " ")
                guard parts.count == 3, let number = Int(parts[1]) else { return XCTFail("helper wrote \(line)") }
                acknowledged.append((number, String(parts[2])))
            }

            let store = try RegistryStore(home: home, initialMapSize: 1 << 22)
            for (number, hash) in acknowledged {
                let v = try XCTUnwrap(store.provenance.version(number), "acknowledged version \(number) lost")
                let model = try XCTUnwrap(store.provenance.model(id: v.modelID))
                XCTAssertEqual(model.contentHash, hash)
                let ckpt = try store.checkpoint(of: model)
                for info in ckpt.infos { _ = try ckpt.tensor(named: info.name) }  // every hash checked on read
            }
            let report = try store.blobs.verify()
            XCTAssertTrue(report.missing.isEmpty, "iteration \(iteration): \(report.missing.prefix(3))")
            XCTAssertTrue(report.corrupt.isEmpty, "iteration \(iteration): \(report.corrupt.prefix(3))")
        }
        // Whatever the kills left behind is garbage that gc removes; the store stays clean.
        let store = try RegistryStore(home: home, initialMapSize: 1 << 22)
        _ = try store.gc()
        XCTAssertEqual(Set(try store.blobs.manifestHashes()), try store.provenance.referencedModelHashes())
        let after = try store.blobs.verify()
        XCTAssertTrue(after.isClean)
        XCTAssertEqual(after.unreferencedChunks, 0)
    }
}

/// The helper's output so far, appended from the pipe's reader thread.
private final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""

    /// Appends; true when this piece brought the first `ACK`.
    func append(_ data: Data) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let had = text.contains("ACK ")
        text += String(decoding: data, as: UTF8.self)
        return !had && text.contains("ACK ")
    }

    func completeLines() -> [Substring] {
        lock.lock(); defer { lock.unlock() }
        guard let end = text.lastIndex(of: "\n") else { return [] }
        return text[..<end].split(separator: "\n")
    }
}
