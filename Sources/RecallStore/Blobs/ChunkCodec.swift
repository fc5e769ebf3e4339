import CZstd
import Foundation
import RecallTensor

/// Encodes one chunk of tensor bytes for storage: byte grouping, then zstd.
///
/// Weights compress badly as a byte stream because every element interleaves a well-behaved
/// byte (the exponent, a handful of values) with noisy mantissa bytes. Grouping puts byte k of
/// every element into plane k, so zstd sees the exponents together. For BF16 and F32 we first
/// rotate each element left by one bit (the ZipNN observation): the sign moves to the bottom,
/// and the 8 exponent bits fill one whole byte instead of straddling two.
///
/// Stored form: `[format u8][planes u8][transform u8][reserved u8][raw length u32 LE][payload]`,
/// `format` 0 = raw bytes (used when compression does not shrink the chunk), 2 = per plane `[flag u8][length u32 LE]`
/// then that plane as a zstd frame (flag 1) or raw (flag 0), 3 = BF16 coded by `BF16ContextCoder`
/// (rANS with a context model; BF16 chunks of trained weights, where it beats zstd).
public struct ChunkCodec: Sendable {
    public enum Transform: UInt8, Sendable { case none = 0, rotateSignToBottom = 1 }

    /// zstd level for chunks that are not split into float byte planes (ids, masks, raw
    /// bytes); float planes use `tuneForFloatPlanes`, which beat every level there.
    public var level: Int32

    public init(level: Int32 = 1) { self.level = level }

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
    ///
    /// BF16 chunks of at least 4096 elements go to `BF16ContextCoder` (format 3). Everything
    /// else: each byte plane is compressed as its own zstd frame (format 2) and kept raw when
    /// zstd cannot shrink it: the exponent plane compresses well, the mantissa planes are close
    /// to random, and separate frames keep zstd from spending effort (and bytes) on the mix.
    public func encode(_ raw: UnsafeRawBufferPointer, dtype: DType) -> [UInt8] {
        if dtype == .bf16, raw.count % 2 == 0, let base = raw.baseAddress, let coded = BF16ContextCoder.encode(base, count: raw.count / 2) {
            let contextCoded = Self.header(format: 3, planes: 2, transform: .rotateSignToBottom, rawLength: raw.count) + coded.payload
            // Below 3.5 bits the raw nibbles are structured (not trained weights): zstd may find
            // matches, so compare. For trained weights they are near 4 bits and zstd cannot win.
            if coded.lowNibbleBits < 3.5 {
                let planes = encodePlanes(raw, dtype: dtype)
                if planes.count < contextCoded.count { return planes }
            }
            return contextCoded.count < raw.count + Self.headerSize ? contextCoded : Self.storedRaw(raw)
        }
        return encodePlanes(raw, dtype: dtype)
    }

    /// Format 2 (or raw): byte planes, each a zstd frame.
    func encodePlanes(_ raw: UnsafeRawBufferPointer, dtype: DType) -> [UInt8] {
        var (planes, transform) = Self.layout(for: dtype)
        if raw.count % planes != 0 { planes = 1; transform = .none }
        let grouped = [UInt8](unsafeUninitializedCapacity: raw.count) { buf, n in
            Self.group(raw, planes: planes, transform: transform, into: UnsafeMutableRawBufferPointer(buf))
            n = raw.count
        }
        let planeBytes = raw.count / planes
        var out = Self.header(format: 2, planes: planes, transform: transform, rawLength: raw.count)
        let bound = ZSTD_compressBound(planeBytes)
        var scratch = [UInt8](repeating: 0, count: bound)
        guard let context = ZSTD_createCCtx() else { return Self.storedRaw(raw) }  // out of memory
        defer { ZSTD_freeCCtx(context) }
        if planes > 1 { Self.tuneForFloatPlanes(context) } else { ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level) }
        grouped.withUnsafeBytes { g in
            for k in 0..<planes {
                let plane = UnsafeRawBufferPointer(rebasing: g[(k * planeBytes)..<((k + 1) * planeBytes)])
                let written = scratch.withUnsafeMutableBytes { ZSTD_compress2(context, $0.baseAddress, bound, plane.baseAddress, plane.count) }
                if ZSTD_isError(written) == 0 && written < plane.count {
                    out.append(1)
                    Self.appendLength(written, to: &out)
                    out.append(contentsOf: scratch[0..<written])
                } else {
                    out.append(0)
                    Self.appendLength(plane.count, to: &out)
                    out.append(contentsOf: plane)
                }
            }
        }
        if out.count >= raw.count + Self.headerSize {
            return Self.storedRaw(raw)
        }
        return out
    }

    /// zstd settings for the byte planes of float tensors, instead of `level`: the fast strategy
    /// with the longest minimum match (7) and a tiny hash table, so almost everything is coded as
    /// Huffman literals over 128 KiB blocks. An exponent plane is a stream of a few dozen values
    /// with next to no repeated strings; every level's match finder found short spurious matches
    /// there that cost more than the literals they replaced (MiniLM's exponent plane: 2.905 bits
    /// per byte at level 1, 3.26 at level 3, 2.642 with these, 2.607 its order-0 entropy). The
    /// mantissa planes are near random either way. Frames stay ordinary zstd frames, so chunks
    /// stored before decode as they did.
    static func tuneForFloatPlanes(_ context: OpaquePointer?) {
        ZSTD_CCtx_setParameter(context, ZSTD_c_strategy, Int32(ZSTD_fast.rawValue))
        ZSTD_CCtx_setParameter(context, ZSTD_c_minMatch, 7)
        ZSTD_CCtx_setParameter(context, ZSTD_c_hashLog, 6)
        ZSTD_CCtx_setParameter(context, ZSTD_c_searchLog, 1)
        ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, 17)
        ZSTD_CCtx_setParameter(context, ZSTD_c_targetLength, 0)  // for `fast` the acceleration: 0 = default (none)
    }

    /// The chunk as stored without compression (format 0).
    static func storedRaw(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        header(format: 0, planes: 1, transform: .none, rawLength: raw.count) + [UInt8](raw)
    }

    static func appendLength(_ n: Int, to out: inout [UInt8]) {
        let v = UInt32(n)
        out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
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
        case 2:
            guard rawLength % planes == 0 else { throw RecallError(.invalidFile, "chunk planes do not divide its length") }
            let planeBytes = rawLength / planes
            let tmp = UnsafeMutableRawBufferPointer.allocate(byteCount: max(rawLength, 1), alignment: 64)
            defer { tmp.deallocate() }
            var at = 0
            for k in 0..<planes {
                guard at + 5 <= payload.count else { throw RecallError(.invalidFile, "chunk plane header is truncated") }
                let flag = payload[at]
                let n = Int(payload[at + 1]) | Int(payload[at + 2]) << 8 | Int(payload[at + 3]) << 16 | Int(payload[at + 4]) << 24
                at += 5
                guard n <= payload.count - at else { throw RecallError(.invalidFile, "chunk plane is truncated") }
                let src = UnsafeRawBufferPointer(rebasing: payload[at..<(at + n)])
                let dst = tmp.baseAddress! + k * planeBytes
                if flag == 0 {
                    guard n == planeBytes else { throw RecallError(.invalidFile, "raw chunk plane has the wrong length") }
                    if n > 0 { dst.copyMemory(from: src.baseAddress!, byteCount: n) }
                } else {
                    let got = ZSTD_decompress(dst, planeBytes, src.baseAddress, src.count)
                    guard ZSTD_isError(got) == 0, got == planeBytes else { throw RecallError(.invalidFile, "chunk plane does not decompress") }
                }
                at += n
            }
            ungroup(UnsafeRawBufferPointer(rebasing: tmp[0..<rawLength]), planes: planes, transform: transform, into: dst)
        case 3:
            guard rawLength % 2 == 0, rawLength > 0 else { throw RecallError(.invalidFile, "chunk (format 3) has an odd or zero length") }
            try BF16ContextCoder.decode(payload, count: rawLength / 2, into: dst.baseAddress!)
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
        let rotate = transform == .rotateSignToBottom
        switch planes {
        case 1:
            d.copyMemory(from: s, byteCount: src.count)
        case 2:
            var i = 0
            while i + 16 <= n {
                var v = s.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self)
                if rotate { v = (v &<< 1) | (v &>> 15) }
                d.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v), toByteOffset: i, as: SIMD16<UInt8>.self)
                d.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 8), toByteOffset: n + i, as: SIMD16<UInt8>.self)
                i += 16
            }
            while i < n {
                var v = s.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                if rotate { v = (v << 1) | (v >> 15) }
                d.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
                d.storeBytes(of: UInt8(truncatingIfNeeded: v >> 8), toByteOffset: n + i, as: UInt8.self)
                i += 1
            }
        case 4:
            var i = 0
            while i + 16 <= n {
                var v = s.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<UInt32>.self)
                if rotate { v = (v &<< 1) | (v &>> 31) }
                for k in 0..<4 {
                    d.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> UInt32(8 * k)), toByteOffset: k * n + i, as: SIMD16<UInt8>.self)
                }
                i += 16
            }
            while i < n {
                var v = s.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                if rotate { v = (v << 1) | (v >> 31) }
                for k in 0..<4 { d.storeBytes(of: UInt8(truncatingIfNeeded: v >> UInt32(8 * k)), toByteOffset: k * n + i, as: UInt8.self) }
                i += 1
            }
        default:
            for i in 0..<n { for k in 0..<planes { dst[k * n + i] = src[i * planes + k] } }
        }
    }

    static func ungroup(_ src: UnsafeRawBufferPointer, planes: Int, transform: Transform, into dst: UnsafeMutableRawBufferPointer) {
        let n = src.count / planes
        guard src.count > 0 else { return }
        let s = src.baseAddress!, d = dst.baseAddress!
        let rotate = transform == .rotateSignToBottom
        switch planes {
        case 1:
            d.copyMemory(from: s, byteCount: src.count)
        case 2:
            var i = 0
            while i + 16 <= n {
                let lo = SIMD16<UInt16>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self))
                let hi = SIMD16<UInt16>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: n + i, as: SIMD16<UInt8>.self))
                var v = lo | (hi &<< 8)
                if rotate { v = (v &>> 1) | (v &<< 15) }
                d.storeBytes(of: v, toByteOffset: i * 2, as: SIMD16<UInt16>.self)
                i += 16
            }
            while i < n {
                var v = UInt16(s.load(fromByteOffset: i, as: UInt8.self)) | UInt16(s.load(fromByteOffset: n + i, as: UInt8.self)) << 8
                if rotate { v = (v >> 1) | (v << 15) }
                d.storeBytes(of: v, toByteOffset: i * 2, as: UInt16.self)
                i += 1
            }
        case 4:
            var i = 0
            while i + 16 <= n {
                var v = SIMD16<UInt32>(repeating: 0)
                for k in 0..<4 {
                    v |= SIMD16<UInt32>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: k * n + i, as: SIMD16<UInt8>.self)) &<< UInt32(8 * k)
                }
                if rotate { v = (v &>> 1) | (v &<< 31) }
                d.storeBytes(of: v, toByteOffset: i * 4, as: SIMD16<UInt32>.self)
                i += 16
            }
            while i < n {
                var v: UInt32 = 0
                for k in 0..<4 { v |= UInt32(s.load(fromByteOffset: k * n + i, as: UInt8.self)) << UInt32(8 * k) }
                if rotate { v = (v >> 1) | (v << 31) }
                d.storeBytes(of: v, toByteOffset: i * 4, as: UInt32.self)
                i += 1
            }
        default:
            for i in 0..<n { for k in 0..<planes { dst[i * planes + k] = src[k * n + i] } }
        }
    }
}
