// recall-bench: in-process measurements for `make bench` (bench/run.sh writes BENCHMARKS.md).
//
//   recall-bench memcpy [--mib N]            best-of memcpy bandwidth (GB/s) on this machine
//   recall-bench convert FILE [--runs N]     read a checkpoint and convert every float tensor to F32 in memory
//   recall-bench compress CHECKPOINT [--level 3]   stored/raw of our chunk codec vs plain zstd, GB/s
//   recall-bench forward MODEL_DIR [--samples 32 --tokens 64]   all hidden states: tokens/s, matmul GFLOP/s, sgemm peak
//   recall-bench growth BASE HOME             bytes each task model / merged version adds to a store
//   recall-bench store-stress HOME [--seed S] [--rounds N]
//                                            put seeded models and commit versions (gc now and then),
//                                            printing "ACK <version> <hash>" after each commit; the crash
//                                            tests kill it with SIGKILL at random moments and check the store
//   recall-bench lineage HOME [--versions N] grow a registry to N versions with provenance rows copied from its
//                                            last real version (the lineage page's render benchmark)
//
// Each prints one JSON object so the shell script can tabulate it.
import Foundation
import RecallTensor

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func option(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return value
}

func peakRSSKiB() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

/// memcpy of a large buffer with both cores, as our conversions run: the ceiling for any
/// bandwidth-bound pass over a checkpoint.
func memcpyBandwidth(mib: Int, runs: Int) -> Double {
    let n = mib << 20
    let src = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    let dst = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    memset(src, 1, n); memset(dst, 0, n)
    var best = Double.infinity
    for _ in 0..<runs {
        let t = now()
        Parallel.forChunks(count: n, elementBytes: 1) { start, count in
            memcpy(dst + start, src + start, count)
        }
        best = min(best, now() - t)
    }
    src.deallocate(); dst.deallocate()
    // Bytes read + bytes written, the same accounting as the conversion figure.
    return Double(2 * n) / best / 1e9
}

func convertAll(path: String, runs: Int) throws -> [String: Any] {
    var best = Double.infinity
    var readBytes = 0, writtenBytes = 0
    for _ in 0..<runs {
        let t = now()
        let file = try SafeTensorsFile(path: path)
        var outputs: [TensorView] = []
        readBytes = 0; writtenBytes = 0
        for info in file.infos where info.dtype.isComputeFloat {
            let view = try file.tensor(named: info.name)
            outputs.append(view.converted(to: .f32))
            readBytes += info.byteCount
            writtenBytes += info.elementCount * 4
        }
        best = min(best, now() - t)
        precondition(!outputs.isEmpty)
    }
    return ["seconds": best, "read_bytes": readBytes, "written_bytes": writtenBytes,
            "gbps_read": Double(readBytes) / best / 1e9,
            "gbps_traffic": Double(readBytes + writtenBytes) / best / 1e9,
            "peak_rss_kib": peakRSSKiB(), "threads": Parallel.threadCount]
}

func emit(_ dict: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write(Data("usage: recall-bench memcpy|convert ...\n".utf8))
    exit(2)
}
do {
    switch args[1] {
    case "memcpy":
        emit(["memcpy_gbps_traffic": memcpyBandwidth(mib: option("--mib", default: 512), runs: option("--runs", default: 5))])
    case "convert":
        guard args.count >= 3 else { throw RecallError(.invalidArgument, "convert needs a FILE") }
        emit(try convertAll(path: args[2], runs: option("--runs", default: 5)))
    case "compress":
        guard args.count >= 3 else { throw RecallError(.invalidArgument, "compress needs a FILE") }
        emit(try compressBenchmark(path: args[2], level: Int32(option("--level", default: 1))))
    case "forward":
        guard args.count >= 3 else { throw RecallError(.invalidArgument, "forward needs a MODEL directory") }
        emit(try forwardBenchmark(modelDir: args[2], samples: option("--samples", default: 32), tokens: option("--tokens", default: 64), runs: option("--runs", default: 3)))
    case "growth":
        guard args.count >= 4 else { throw RecallError(.invalidArgument, "growth needs a BASE checkpoint and a HOME") }
        let rows = try storageGrowth(basePath: args[2], home: URL(fileURLWithPath: args[3]))
        let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    case "store-stress":
        guard args.count >= 3 else { throw RecallError(.invalidArgument, "store-stress needs a HOME") }
        try storeStress(home: URL(fileURLWithPath: args[2]), seed: UInt64(option("--seed", default: 1)), rounds: option("--rounds", default: 1_000_000))
    case "lineage":
        guard args.count >= 3 else { throw RecallError(.invalidArgument, "lineage needs a HOME") }
        emit(try growLineage(home: URL(fileURLWithPath: args[2]), versions: option("--versions", default: 1000)))
    default:
        throw RecallError(.invalidArgument, "unknown benchmark \(args[1])")
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
