import Foundation
import RecallTensor
import RecallStore

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
    // Decode into preallocated buffers (allocation is not the codec's cost), best of 5: the
    // throughput of a memory-bound pass varies from run to run on a shared machine.
    let decoded = pieces.map { UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, $0.1.count), alignment: 64) }
    defer { decoded.forEach { $0.deallocate() } }
    var best = Double.infinity
    for _ in 0..<5 {
        t = now()
        DispatchQueue.concurrentPerform(iterations: pieces.count) { i in
            _ = encoded[i].withUnsafeBytes { try! ChunkCodec.decode($0, into: decoded[i]) }
        }
        best = min(best, now() - t)
    }
    // A codec that decodes fast but wrongly must not report a figure.
    for (i, piece) in pieces.enumerated() where memcmp(decoded[i].baseAddress!, piece.1.baseAddress!, piece.1.count) != 0 {
        fatalError("chunk \(i) of \(piece.0) does not round-trip")
    }
    let dtypes = Set(pieces.map { $0.2.rawValue }).sorted()
    let bound = entropyBound(pieces.map { ($0.1, $0.2) })
    return ["file": (path as NSString).lastPathComponent, "dtypes": dtypes, "raw_bytes": raw, "level": Int(level),
            "plain_ratio": Double(plain) / Double(raw), "planes_ratio": Double(planes) / Double(raw),
            "ours_ratio": Double(ours) / Double(raw), "compress_gbps": Double(raw) / compressSeconds / 1e9,
            "decompress_gbps": Double(raw) / best / 1e9, "threads": ProcessInfo.processInfo.activeProcessorCount,
            "entropy_order0_ratio": bound.order0, "entropy_order1_ratio": bound.order1]
}

/// What any coder of the store's layout could reach on these chunks: each chunk's byte planes
/// after the sign rotation (for BF16 / F32; plain bytes otherwise), coded at their own order-0
/// entropy per chunk (what a per-chunk Huffman or FSE table can approach, tables not counted);
/// and the same with every plane byte conditioned on the previous byte of its plane (order 1).
/// As fractions of the raw bits.
func entropyBound(_ pieces: [(UnsafeRawBufferPointer, DType)]) -> (order0: Double, order1: Double) {
    func bits(_ counts: UnsafeBufferPointer<Int>) -> Double {
        let n = Double(counts.reduce(0, +))
        return counts.reduce(0.0) { $0 + ($1 == 0 ? 0 : -Double($1) * log2(Double($1) / n)) }
    }
    var total0 = 0.0, total1 = 0.0, raw = 0
    var h0 = [Int](repeating: 0, count: 256), h1 = [Int](repeating: 0, count: 65536)
    for (bytes, dtype) in pieces {
        raw += bytes.count
        let width = dtype == .bf16 ? 2 : (dtype == .f32 ? 4 : 1)
        let n = bytes.count / width
        for plane in 0..<width {
            h0.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            h1.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            var previous = 0
            for i in 0..<n {
                var byte: Int
                switch width {
                case 2:
                    let v = UInt32(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    byte = Int((((v << 1) | (v >> 15)) >> (8 * plane)) & 0xFF)
                case 4:
                    let v = bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                    byte = Int((((v << 1) | (v >> 31)) >> (8 * plane)) & 0xFF)
                default:
                    byte = Int(bytes[i])
                }
                h0[byte] += 1
                h1[previous << 8 | byte] += 1
                previous = byte
            }
            total0 += h0.withUnsafeBufferPointer(bits)
            // H(X | previous) = H(previous, X) - H(previous)
            var contexts = [Int](repeating: 0, count: 256)
            for c in 0..<256 { for x in 0..<256 { contexts[c] += h1[c << 8 | x] } }
            total1 += h1.withUnsafeBufferPointer(bits) - contexts.withUnsafeBufferPointer(bits)
        }
    }
    return (total0 / Double(raw * 8), total1 / Double(raw * 8))
}
