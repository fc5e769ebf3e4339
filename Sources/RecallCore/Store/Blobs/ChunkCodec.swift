import CZstd
import Foundation

/// Encodes one chunk of tensor bytes for storage: byte grouping, then zstd.
///
/// Weights compress badly as a byte stream because every element interleaves a well-behaved
/// byte (the exponent, a handful of values) with noisy mantissa bytes. Grouping puts byte k of
/// every element into plane k, so zstd sees the exponents together. For BF16 and F32 we first
/// rotate each element left by one bit (the ZipNN observation): the sign moves to the bottom,
/// and the 8 exponent bits fill one whole byte instead of straddling two.
///
/// Stored form: `[format u8][planes u8][transform u8][reserved u8][raw length u32 LE][payload]`,
/// `format` 0 = raw bytes (used when compression does not shrink the chunk), 1 = zstd of the
/// grouped planes.
public struct ChunkCodec: Sendable {
    public enum Transform: UInt8, Sendable { case none = 0, rotateSignToBottom = 1 }

    public var level: Int32

    public init(level: Int32 = 3) { self.level = level }

    /// Plane count and transform for a dtype: 16-bit floats -> 2, F32 -> 4, others -> 1 (no grouping).
    public static func layout(for dtype: DType) -> (planes: Int, transform: Transform) {
        switch dtype {
        case .bf16: return (2, .rotateSignToBottom)
        case .f16: return (2, .none)
        case .f32: return (4, .rotateSignToBottom)
        default: return (1, .none)
        }
    }

    static let headerSize = 8

    /// Encodes `raw` (whole elements of `dtype`).
    public func encode(_ raw: UnsafeRawBufferPointer, dtype: DType) -> [UInt8] {
        var (planes, transform) = Self.layout(for: dtype)
        if raw.count % planes != 0 { planes = 1; transform = .none }
        let grouped = [UInt8](unsafeUninitializedCapacity: raw.count) { buf, n in
            Self.group(raw, planes: planes, transform: transform, into: UnsafeMutableRawBufferPointer(buf))
            n = raw.count
        }
        let bound = ZSTD_compressBound(raw.count)
        var out = [UInt8](repeating: 0, count: Self.headerSize + bound)
        let written = out.withUnsafeMutableBytes { o in
            grouped.withUnsafeBytes { g in
                ZSTD_compress(o.baseAddress! + Self.headerSize, bound, g.baseAddress, g.count, level)
            }
        }
        if ZSTD_isError(written) != 0 || written >= raw.count {
            return Self.header(format: 0, planes: 1, transform: .none, rawLength: raw.count) + [UInt8](raw)
        }
        out.removeSubrange((Self.headerSize + written)...)
        out.replaceSubrange(0..<Self.headerSize, with: Self.header(format: 1, planes: planes, transform: transform, rawLength: raw.count))
        return out
    }

    static func header(format: UInt8, planes: Int, transform: Transform, rawLength: Int) -> [UInt8] {
        let n = UInt32(rawLength)
        return [format, UInt8(planes), transform.rawValue, 0,
                UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)]
    }

    /// Decodes a stored chunk into `dst` (which must hold the raw length); returns the raw length.
    /// Throws on anything malformed, so corruption is reported rather than propagated.
    public static func decode(_ stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        guard stored.count >= headerSize else { throw RecallError(.invalidFile, "chunk shorter than its header") }
        let format = stored[0], planes = Int(stored[1])
        guard let transform = Transform(rawValue: stored[2]), planes >= 1, planes <= 8 else {
            throw RecallError(.invalidFile, "chunk header is corrupt")
        }
        let rawLength = Int(stored[4]) | Int(stored[5]) << 8 | Int(stored[6]) << 16 | Int(stored[7]) << 24
        guard dst.count >= rawLength else { throw RecallError(.invalidFile, "chunk is larger than expected") }
        let payload = UnsafeRawBufferPointer(rebasing: stored[headerSize...])
        switch format {
        case 0:
            guard payload.count == rawLength else { throw RecallError(.invalidFile, "raw chunk has the wrong length") }
            if rawLength > 0 { dst.baseAddress!.copyMemory(from: payload.baseAddress!, byteCount: rawLength) }
        case 1:
            let tmp = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawLength, 1), alignment: 64)
            defer { tmp.deallocate() }
            let n = ZSTD_decompress(tmp.baseAddress, rawLength, payload.baseAddress, payload.count)
            guard ZSTD_isError(n) == 0, n == rawLength else { throw RecallError(.invalidFile, "chunk does not decompress") }
            ungroup(UnsafeRawBufferPointer(rebasing: tmp[0..<rawLength]), planes: planes, transform: transform, into: dst)
        default:
            throw RecallError(.invalidFile, "chunk has unknown format \(format)")
        }
        return rawLength
    }

    /// Raw length recorded in a stored chunk's header.
    public static func rawLength(of stored: UnsafeRawBufferPointer) -> Int? {
        guard stored.count >= headerSize else { return nil }
        return Int(stored[4]) | Int(stored[5]) << 8 | Int(stored[6]) << 16 | Int(stored[7]) << 24
    }

    // MARK: Byte grouping

    static func group(_ src: UnsafeRawBufferPointer, planes: Int, transform: Transform, into dst: UnsafeMutableRawBufferPointer) {
        let n = src.count / planes
        guard src.count > 0 else { return }
        let s = src.baseAddress!, d = dst.baseAddress!
        switch (planes, transform) {
        case (1, _):
            d.copyMemory(from: s, byteCount: src.count)
        case (2, _):
            let lo = d.assumingMemoryBound(to: UInt8.self), hi = lo + n
            for i in 0..<n {
                var v = s.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                if transform == .rotateSignToBottom { v = (v << 1) | (v >> 15) }
                lo[i] = UInt8(truncatingIfNeeded: v)
                hi[i] = UInt8(truncatingIfNeeded: v >> 8)
            }
        case (4, _):
            let p0 = d.assumingMemoryBound(to: UInt8.self), p1 = p0 + n, p2 = p1 + n, p3 = p2 + n
            for i in 0..<n {
                var v = s.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                if transform == .rotateSignToBottom { v = (v << 1) | (v >> 31) }
                p0[i] = UInt8(truncatingIfNeeded: v)
                p1[i] = UInt8(truncatingIfNeeded: v >> 8)
                p2[i] = UInt8(truncatingIfNeeded: v >> 16)
                p3[i] = UInt8(truncatingIfNeeded: v >> 24)
            }
        default:
            for i in 0..<n { for k in 0..<planes { dst[k * n + i] = src[i * planes + k] } }
        }
    }

    static func ungroup(_ src: UnsafeRawBufferPointer, planes: Int, transform: Transform, into dst: UnsafeMutableRawBufferPointer) {
        let n = src.count / planes
        guard src.count > 0 else { return }
        let s = src.baseAddress!.assumingMemoryBound(to: UInt8.self), d = dst.baseAddress!
        switch planes {
        case 1:
            d.copyMemory(from: s, byteCount: src.count)
        case 2:
            let hi = s + n
            for i in 0..<n {
                var v = UInt16(s[i]) | UInt16(hi[i]) << 8
                if transform == .rotateSignToBottom { v = (v >> 1) | (v << 15) }
                d.storeBytes(of: v, toByteOffset: i * 2, as: UInt16.self)
            }
        case 4:
            let p1 = s + n, p2 = p1 + n, p3 = p2 + n
            for i in 0..<n {
                var v = UInt32(s[i]) | UInt32(p1[i]) << 8 | UInt32(p2[i]) << 16 | UInt32(p3[i]) << 24
                if transform == .rotateSignToBottom { v = (v >> 1) | (v << 31) }
                d.storeBytes(of: v, toByteOffset: i * 4, as: UInt32.self)
            }
        default:
            for i in 0..<n { for k in 0..<planes { dst[i * planes + k] = src[k * n + i] } }
        }
    }
}
