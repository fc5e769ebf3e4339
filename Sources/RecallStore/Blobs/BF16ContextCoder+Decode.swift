import Foundation
import RecallTensor

/// Decoding of chunk format 3 (see `BF16ContextCoder` for the layout): the tables are read and
/// checked, both sides derive the same `Model`, then the rANS stream is decoded block by block.
extension BF16ContextCoder {
    /// Decodes a payload written by `encode` into `n` BF16 elements at `dst`. Throws on any
    /// inconsistency: bad tables, a stream that ends early or late, states that do not return
    /// to their start.
    static func decode(_ p: UnsafeRawBufferPointer, count n: Int, into dst: UnsafeMutableRawPointer) throws {
        var reader = PayloadReader(p: p)
        let common = try reader.header()
        let expFreq = try (0..<classCount).map { _ in try reader.table(256, total: exponentTotal) }
        let nibFreq = try (0...common.count).map { _ in try reader.table(16, total: nibbleTotal) }
        let model = Model(common: common, expFreq: expFreq, nibFreq: nibFreq)
        let slots = decodeSlots(model, common: common, rareNibbleFreq: nibFreq[common.count])
        defer { slots.deallocate() }
        let sections = try reader.sections(count: n)
        try decodeBlocks(sections, count: n, slots: slots, into: dst)
    }

    /// The error for a payload that does not decode.
    static func bad(_ what: String) -> RecallError { RecallError(.invalidFile, "chunk (format 3): \(what)") }

    /// Reads the payload front to back; every read past its end is "truncated".
    struct PayloadReader {
        let p: UnsafeRawBufferPointer
        var at = 0

        mutating func byte() throws -> Int {
            guard at < p.count else { throw bad("truncated") }
            defer { at += 1 }
            return Int(p[at])
        }

        mutating func u16() throws -> Int { let lo = try byte(); return try lo | byte() << 8 }

        /// Version, block size and the exponents that have their own nibble context.
        mutating func header() throws -> [Int] {
            guard try byte() == Int(version) else { throw bad("unknown version") }
            guard try byte() == blockLog else { throw bad("unexpected block size") }
            let contexts = try byte()
            guard contexts <= maxContexts else { throw bad("too many contexts") }
            var common: [Int] = []
            for _ in 0..<contexts {
                let e = try byte()
                guard !common.contains(e) else { throw bad("context listed twice") }
                common.append(e)
            }
            return common
        }

        /// One frequency table over `symbols` symbols: empty, or summing to `total`.
        mutating func table(_ symbols: Int, total: Int) throws -> [UInt16] {
            let used = try u16()
            guard used <= symbols else { throw bad("table has too many symbols") }
            var f = [UInt16](repeating: 0, count: symbols), sum = 0
            for _ in 0..<used {
                let s = try byte(), v = try u16()
                guard s < symbols, v > 0, f[s] == 0 else { throw bad("table entry is invalid") }
                f[s] = UInt16(v)
                sum += v
            }
            guard used == 0 || sum == total else { throw bad("table does not sum to \(total)") }
            return f
        }

        /// The rest of the payload: block classes, raw nibbles, then the rANS words.
        mutating func sections(count n: Int) throws -> Sections {
            let blocks = (n + (1 << blockLog) - 1) >> blockLog
            let classBytes = (blocks + 3) / 4, nibbleBytes = (n + 1) / 2
            guard p.count - at >= classBytes + nibbleBytes + 4 else { throw bad("truncated") }
            let classes = p.baseAddress! + at
            let nibbles = classes + classBytes
            at += classBytes + nibbleBytes
            let wordCount = Int(p[at]) | Int(p[at + 1]) << 8 | Int(p[at + 2]) << 16 | Int(p[at + 3]) << 24
            at += 4
            guard wordCount >= 8, p.count - at == 2 * wordCount else { throw bad("stream length does not match") }
            return Sections(blocks: blocks, classes: classes, nibbles: nibbles, stream: p.baseAddress! + at, wordCount: wordCount)
        }
    }

    /// Where the parts after the tables lie in the payload.
    struct Sections {
        var blocks: Int
        var classes: UnsafeRawPointer
        var nibbles: UnsafeRawPointer
        var stream: UnsafeRawPointer
        var wordCount: Int
    }

    /// Decode slots: per class the joint then the rare-exponent table (`jointTotal` each);
    /// then the rare nibbles. The caller deallocates.
    static func decodeSlots(_ model: Model, common: [Int], rareNibbleFreq: [UInt16]) -> UnsafeMutablePointer<UInt64> {
        let perClass = 2 * jointTotal
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: classCount * perClass + nibbleTotal)
        let contexts = common.count
        let jointValue: (Int) -> UInt16 = { s in s == contexts * 16 ? escape : UInt16(common[s >> 4] << 4 | s & 15) }
        for k in 0..<classCount {
            Rans.decodeSlots(model.joint[k], total: jointTotal, value: jointValue, into: slots + k * perClass)
            Rans.decodeSlots(model.rare[k], total: jointTotal, value: { UInt16($0) }, into: slots + k * perClass + jointTotal)
        }
        Rans.decodeSlots(rareNibbleFreq, total: nibbleTotal, value: { UInt16($0) }, into: slots + classCount * perClass)
        return slots
    }

    /// Decodes the rANS stream block by block and writes the elements to `dst`.
    static func decodeBlocks(_ sections: Sections, count n: Int, slots: UnsafeMutablePointer<UInt64>, into dst: UnsafeMutableRawPointer) throws {
        let perClass = 2 * jointTotal
        let rareNibble = UnsafePointer(slots + classCount * perClass)
        // The words are read in place. A block takes at most three words per element and every
        // step reads one word ahead, so once fewer than `padding` words remain, the rest is
        // copied into a buffer followed by zeros; checking for an overrun once per block then
        // keeps every read inside the payload or that buffer.
        let padding = 3 << blockLog
        let stream = sections.stream
        func word(_ k: Int) -> UInt32 { UInt32(UInt16(littleEndian: stream.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        var x0 = word(0) << 16 | word(1), x1 = word(2) << 16 | word(3)
        var x2 = word(4) << 16 | word(5), x3 = word(6) << 16 | word(7)
        var w = stream + 16, end = stream + 2 * sections.wordCount
        var tail: UnsafeMutableRawPointer?
        defer { tail?.deallocate() }
        // Per block: the rANS loop decodes the high 12 bits of each element into `values`, then a
        // plain loop adds the raw nibbles and undoes the rotation (fewer live registers in the
        // rANS loop, no variable shifts).
        let values = UnsafeMutablePointer<UInt16>.allocate(capacity: 1 << blockLog)
        defer { values.deallocate() }
        /// One element from state `x`: the joint symbol, or escape, exponent and nibble.
        @inline(__always) func element(_ x: inout UInt32, _ table: UnsafePointer<UInt64>, _ j: Int) {
            var v = Rans.take(&x, slots: table, scaleBits: jointScale, words: &w)
            if v == UInt32(escape) {
                let e = Rans.take(&x, slots: table + jointTotal, scaleBits: jointScale, words: &w)
                v = e << 4 | Rans.take(&x, slots: rareNibble, scaleBits: nibbleScale, words: &w)
            }
            values[j] = UInt16(truncatingIfNeeded: v)
        }
        for b in 0..<sections.blocks {
            guard w <= end else { throw bad("stream is corrupt") }
            if tail == nil && end - w < 2 * padding {
                let remaining = end - w
                let t = UnsafeMutableRawPointer.allocate(byteCount: remaining + 2 * padding, alignment: 16)
                t.copyMemory(from: w, byteCount: remaining)
                (t + remaining).initializeMemory(as: UInt8.self, repeating: 0, count: 2 * padding)
                tail = t
                w = UnsafeRawPointer(t)
                end = w + remaining
            }
            let cls = Int(sections.classes.load(fromByteOffset: b >> 2, as: UInt8.self) >> UInt8(2 * (b & 3)) & 3)
            let table = UnsafePointer(slots + cls * perClass)
            let lo = b << blockLog, hi = min(n, lo + (1 << blockLog))
            let count = hi - lo
            var j = 0
            while j + 4 <= count {
                element(&x0, table, j)
                element(&x1, table, j + 1)
                element(&x2, table, j + 2)
                element(&x3, table, j + 3)
                j += 4
            }
            while j < count {  // the chunk's last few elements
                switch j & 3 {
                case 0: element(&x0, table, j)
                case 1: element(&x1, table, j)
                default: element(&x2, table, j)
                }
                j += 1
            }
            addLowNibbles(values, nibbles: sections.nibbles + lo >> 1, count: count, into: dst + 2 * lo)
        }
        guard x0 == Rans.lowerBound, x1 == Rans.lowerBound, x2 == Rans.lowerBound, x3 == Rans.lowerBound, w == end else {
            throw bad("stream is corrupt")
        }
    }

    /// Joins one block's decoded high 12 bits with its raw low nibbles, undoes the rotation and
    /// stores the `count` elements at `dst`.
    @inline(__always)
    static func addLowNibbles(_ values: UnsafeMutablePointer<UInt16>, nibbles nib: UnsafeRawPointer, count: Int, into dst: UnsafeMutableRawPointer) {
        var k = 0
        while k + 32 <= count {  // 16 nibble bytes -> 32 elements
            let bytes = nib.loadUnaligned(fromByteOffset: k >> 1, as: SIMD16<UInt8>.self)
            // As UInt16 lanes `lo | hi << 8`, which in memory order is one nibble per element.
            let spread = unsafeBitCast(SIMD16<UInt16>(truncatingIfNeeded: bytes & 15) | SIMD16<UInt16>(truncatingIfNeeded: bytes &>> 4) &<< 8,
                                       to: SIMD32<UInt8>.self)
            for half in 0..<2 {
                let low = SIMD16<UInt16>(truncatingIfNeeded: half == 0 ? spread.lowHalf : spread.highHalf)
                let r = UnsafeRawPointer(values).loadUnaligned(fromByteOffset: 2 * (k + 16 * half), as: SIMD16<UInt16>.self) &<< 4 | low
                dst.storeBytes(of: r &>> 1 | r &<< 15, toByteOffset: 2 * (k + 16 * half), as: SIMD16<UInt16>.self)
            }
            k += 32
        }
        while k < count {
            let byte = UInt16(nib.load(fromByteOffset: k >> 1, as: UInt8.self))
            let r = values[k] << 4 | (k & 1 == 0 ? byte & 15 : byte >> 4)
            dst.storeBytes(of: r >> 1 | r << 15, toByteOffset: 2 * k, as: UInt16.self)
            k += 1
        }
    }

    /// Decoded value of the escape symbol (a real value has 12 bits).
    static let escape: UInt16 = 0xFFFF
}
