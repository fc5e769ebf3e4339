import Foundation
import RecallCore

/// Storage benchmark: every tensor of a checkpoint cut into the store's 4 MiB chunks and
/// encoded three ways at the same zstd level, all in one run:
/// - plain: zstd of the raw bytes (what a generic compressing store does);
/// - planes: byte grouping without moving the sign (the simple two/four-plane split);
/// - ours: ChunkCodec as the store uses it (sign rotated to the bottom, then planes).
/// Reports stored/raw per variant and our compress / decompress throughput on all cores.
func compressBenchmark(path: String, level: Int32) throws -> [String: Any] {
    let checkpoint = try Checkpoint.open(URL(fileURLWithPath: path))
    let chunkBytes = 4 << 20
    var pieces: [(TensorView, UnsafeRawBufferPointer, DType)] = []
    for info in checkpoint.weights.infos {
        let view = try checkpoint.weights.tensor(named: info.name)
        var offset = 0
        let step = max(info.dtype.byteSize, chunkBytes / info.dtype.byteSize * info.dtype.byteSize)
        while offset < view.bytes.count {
            let end = min(view.bytes.count, offset + step)
            pieces.append((view, UnsafeRawBufferPointer(rebasing: view.bytes[offset..<end]), info.dtype))
            offset = end
        }
    }
    let raw = pieces.reduce(0) { $0 + $1.1.count }
    let codec = ChunkCodec(level: level)
    func sizes(_ layout: (DType) -> DType) -> Int {
        var total = [Int](repeating: 0, count: pieces.count)
        total.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: pieces.count) { i in
                (base + i).pointee = codec.encode(pieces[i].1, dtype: layout(pieces[i].2)).count
            }
        }
        return total.reduce(0, +)
    }
    let plain = sizes { _ in .u8 }
    // bf16 grouped without the rotation is exactly the f16 layout; f32 has no such variant here.
    let planes = sizes { $0 == .bf16 ? .f16 : $0 }
    var encoded = [[UInt8]](repeating: [], count: pieces.count)
    var t = now()
    encoded.withUnsafeMutableBufferPointer { out in
        let base = out.baseAddress!
        DispatchQueue.concurrentPerform(iterations: pieces.count) { i in (base + i).pointee = codec.encode(pieces[i].1, dtype: pieces[i].2) }
    }
    let compressSeconds = now() - t
    let ours = encoded.reduce(0) { $0 + $1.count }
    var best = Double.infinity
    for _ in 0..<3 {
        t = now()
        DispatchQueue.concurrentPerform(iterations: pieces.count) { i in
            let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: pieces[i].1.count, alignment: 64)
            defer { dst.deallocate() }
            _ = encoded[i].withUnsafeBytes { try! ChunkCodec.decode($0, into: dst) }
        }
        best = min(best, now() - t)
    }
    let dtypes = Set(pieces.map { $0.2.rawValue }).sorted()
    return ["file": (path as NSString).lastPathComponent, "dtypes": dtypes, "raw_bytes": raw, "level": Int(level),
            "plain_ratio": Double(plain) / Double(raw), "planes_ratio": Double(planes) / Double(raw),
            "ours_ratio": Double(ours) / Double(raw), "compress_gbps": Double(raw) / compressSeconds / 1e9,
            "decompress_gbps": Double(raw) / best / 1e9, "threads": ProcessInfo.processInfo.activeProcessorCount]
}
