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
            try p.run()
            // Let it work for a random 0.3-1.5 s, then kill it without warning.
            usleep(UInt32.random(in: 300_000...1_500_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "iteration \(iteration): the helper must be killed mid-work")
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("ACK ") {
                let parts = line.split(separator: " ")
                acknowledged.append((Int(parts[1])!, String(parts[2])))
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
        XCTAssertGreaterThan(acknowledged.count, iterations, "the helper must have committed versions before being killed")
        // Whatever the kills left behind is garbage that gc removes; the store stays clean.
        let store = try RegistryStore(home: home, initialMapSize: 1 << 22)
        _ = try store.gc()
        XCTAssertEqual(Set(try store.blobs.manifestHashes()), try store.provenance.referencedModelHashes())
        let after = try store.blobs.verify()
        XCTAssertTrue(after.isClean)
        XCTAssertEqual(after.unreferencedChunks, 0)
    }
}
