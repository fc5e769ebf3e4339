import Foundation
import RecallTensor

/// Codes a chunk of BF16 weights near the entropy of a small context model (chunk format 3).
///
/// After the ZipNN rotation (sign to the bottom) an element is `[exponent 8][mantissa 7][sign]`.
/// Measured on all-MiniLM-L6-v2 in bf16, per 4 MiB chunk, as a fraction of raw bytes:
/// - order-0 entropy of the two byte planes: 0.661. zstd's Huffman literals land at 0.665, and
///   no byte plane layout gets zstd under 0.66, because Huffman pays whole bits per symbol.
/// - the exponent depends on how large the weights are in that stretch of the tensor (rows
///   differ in scale): coded with the class of its 256-element block (4 classes by the block's
///   mean exponent, 2 bits of side information per block) it drops from 0.163 to 0.161.
/// - the top 4 mantissa bits depend on the exponent (in the tails the density falls steeply
///   inside a binade): coded with the exponent as context they drop from 0.249 to 0.246. The
///   low 3 mantissa bits and the sign are close to uniform and are stored as raw nibbles.
/// Together, with rANS, 0.658 (the bound of this model is 0.655).
///
/// Speed: decoding is one rANS step per element. The exponent and its nibble are decoded as one
/// symbol of a joint table per block class, built by both sides from the transmitted factors
/// p(exponent | class) x p(nibble | exponent); exponents too rare for their own nibble table
/// take an escape symbol, then the exponent and the nibble separately. Four interleaved states
/// give the processor independent chains.
///
/// Payload after the chunk header, all integers little-endian:
/// `[u8 version 1][u8 blockLog][u8 nibbleContexts C][C x u8 exponent of each context]`,
/// 4 exponent tables then C + 1 nibble tables (the last for every other exponent), each
/// `[u16 n][n x (u8 symbol, u16 frequency)]`; block classes, 2 bits each;
/// low nibbles, 2 per byte; `[u32 words]` then the rANS words (u16), the four states first.
enum BF16ContextCoder {
    static let version: UInt8 = 1
    static let blockLog = 8
    static let classCount = 4
    /// Exponents seen at least this often in a chunk (as a fraction: 1/256 of its elements)
    /// get their own nibble table; the table costs ~50 bytes, rarer ones share one.
    static let contextShare = 256
    /// ... and at least this often: in small chunks the tables would cost more than they save,
    /// and building the decoder's joint tables is a fixed cost per chunk.
    static let minContextCount = 2048
    static let maxContexts = 64
    /// Precision of the transmitted tables: 12 bits for exponents (rare tail exponents need
    /// it), 8 for the 16 nibble values (near uniform; finer would only cost table bytes).
    static let exponentScale: UInt32 = 12, nibbleScale: UInt32 = 8
    static let exponentTotal = 1 << 12, nibbleTotal = 1 << 8
    /// Precision of the tables both sides derive (joint and rare exponents, see `Model`): at 11
    /// bits a class's decode table (2048 x 8 bytes) stays in the L1 cache; 12 bits saved 0.0004
    /// of raw and decoded slower.
    static let jointScale: UInt32 = 11, jointTotal = 1 << 11

    /// Encodes `n` BF16 elements, or nil when `n` is too small to pay for the tables.
    /// `lowNibbleBits` is the order-0 entropy of the raw nibbles: well under 4 bits means the
    /// chunk is not weights of a trained model (constants, zeros, dequantised grids), where
    /// zstd's matches may win and the caller should compare.
    static func encode(_ src: UnsafeRawPointer, count n: Int) -> (payload: [UInt8], lowNibbleBits: Double)? {
        guard n >= 4096 else { return nil }
        let rotated = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
        defer { rotated.deallocate() }
        // Counting goes through buffer pointers (an array subscript in these loops costs a
        // uniqueness check per element) and into four interleaved histograms: exponents repeat
        // a lot, and increments of one counter would wait on each other.
        var expCount = [Int](repeating: 0, count: 256)
        var nibbleCount = [Int](repeating: 0, count: 16)
        var nibbles = [UInt8](repeating: 0, count: (n + 1) / 2)
        let blockSize = 1 << blockLog
        let blocks = (n + blockSize - 1) / blockSize
        var blockSum = [Int](repeating: 0, count: blocks)  // exponents summed per block, for the classes below
        do {
            let width = 256 + 16  // exponents, then low nibbles
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4 * width)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: 4 * width)
            blockSum.withUnsafeMutableBufferPointer { blockSum in
                for i in 0..<n {
                    let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    let r = v << 1 | v >> 15
                    rotated[i] = r
                    let h = counts + (i & 3) * width
                    h[Int(r >> 8)] += 1
                    h[256 + Int(r & 15)] += 1
                    blockSum[i >> blockLog] += Int(r >> 8)
                }
            }
            for k in 0..<4 {
                for e in 0..<256 { expCount[e] += counts[k * width + e] }
                for l in 0..<16 { nibbleCount[l] += counts[k * width + 256 + l] }
            }
            nibbles.withUnsafeMutableBufferPointer { packed in
                for j in 0..<(n / 2) { packed[j] = UInt8(truncatingIfNeeded: rotated[2 * j] & 15 | (rotated[2 * j + 1] & 15) << 4) }
                if n % 2 == 1 { packed[n / 2] = UInt8(truncatingIfNeeded: rotated[n - 1] & 15) }
            }
        }

        // Block classes by the quartiles of the blocks' mean exponents.
        let blockMean = (0..<blocks).map { b in  // sum scaled to a full block
            blockSum[b] * blockSize / (min(n, (b + 1) * blockSize) - b * blockSize)
        }
        let sorted = blockMean.sorted()
        let cuts = (1..<classCount).map { sorted[$0 * blocks / classCount] }
        var blockClass = [UInt8](repeating: 0, count: blocks)
        for b in 0..<blocks {
            var c = 0
            while c < cuts.count && blockMean[b] >= cuts[c] { c += 1 }
            blockClass[b] = UInt8(c)
        }

        // Nibble contexts: the most frequent exponents, then one shared table.
        let common = (0..<256).filter { expCount[$0] > 0 && expCount[$0] * contextShare >= n && expCount[$0] >= minContextCount }
            .sorted { expCount[$0] > expCount[$1] }.prefix(maxContexts).map { $0 }
        var contextOf = [Int](repeating: common.count, count: 256)
        for (k, e) in common.enumerated() { contextOf[e] = k }

        var expCounts = [Int](repeating: 0, count: classCount * 256)
        var nibCounts = [Int](repeating: 0, count: (common.count + 1) * 16)
        do {  // four interleaved histograms again, summed at the end
            let width = classCount * 256 + (common.count + 1) * 16  // exponents per class, then nibbles per context
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4 * width)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: 4 * width)
            contextOf.withUnsafeBufferPointer { context in
                for b in 0..<blocks {
                    let c = Int(blockClass[b]) * 256
                    for i in (b * blockSize)..<min(n, (b + 1) * blockSize) {
                        let r = Int(rotated[i])
                        let h = counts + (i & 3) * width
                        h[c + r >> 8] += 1
                        h[classCount * 256 + context[r >> 8] * 16 + (r >> 4) & 15] += 1
                    }
                }
            }
            for k in 0..<4 {
                for j in 0..<(classCount * 256) { expCounts[j] += counts[k * width + j] }
                for j in 0..<((common.count + 1) * 16) { nibCounts[j] += counts[k * width + classCount * 256 + j] }
            }
        }
        let expFreq = (0..<classCount).map { k in expCounts.withUnsafeBufferPointer { Rans.normalize(UnsafeBufferPointer(rebasing: $0[(k * 256)..<((k + 1) * 256)]), total: exponentTotal) } }
        let nibFreq = (0...common.count).map { k in nibCounts.withUnsafeBufferPointer { Rans.normalize(UnsafeBufferPointer(rebasing: $0[(k * 16)..<((k + 1) * 16)]), total: nibbleTotal) } }
        let model = Model(common: common, expFreq: expFreq, nibFreq: nibFreq)

        // Encoding tables: per class the joint table then the rare-exponent table; the rare nibbles.
        let jointSymbols = common.count * 16 + 1
        let perClass = jointSymbols + 256
        let symbols = UnsafeMutablePointer<Rans.EncodeSymbol>.allocate(capacity: classCount * perClass + 16)
        defer { symbols.deallocate() }
        for k in 0..<classCount {
            Rans.encodeSymbols(model.joint[k], into: symbols + k * perClass)
            Rans.encodeSymbols(model.rare[k], into: symbols + k * perClass + jointSymbols)
        }
        let rareNibble = symbols + classCount * perClass
        Rans.encodeSymbols(nibFreq[common.count], into: rareNibble)

        // rANS, backwards; element i on state i % 4.
        let capacity = 3 * n + 9  // words: at most one per symbol, the final states, one spare below
        let words = UnsafeMutablePointer<UInt16>.allocate(capacity: capacity)
        defer { words.deallocate() }
        var out = words + capacity
        var x0 = Rans.lowerBound, x1 = Rans.lowerBound, x2 = Rans.lowerBound, x3 = Rans.lowerBound
        let context = UnsafeMutablePointer<Int>.allocate(capacity: 256)
        defer { context.deallocate() }
        for e in 0..<256 { context[e] = contextOf[e] }
        let classes = UnsafeMutablePointer<UInt8>.allocate(capacity: blocks)
        defer { classes.deallocate() }
        for b in 0..<blocks { classes[b] = blockClass[b] }
        let commonCount = common.count
        @inline(__always) func put(_ x: inout UInt32, _ i: Int) {
            let r = Int(rotated[i])
            let e = r >> 8, h = (r >> 4) & 15
            let table = symbols + Int(classes[i >> blockLog]) &* perClass
            let c = context[e]
            if c < commonCount {
                Rans.put(&x, table[c &* 16 &+ h], scaleBits: jointScale, out: &out)
            } else {  // decoded as: escape, exponent, nibble
                Rans.put(&x, rareNibble[h], scaleBits: nibbleScale, out: &out)
                Rans.put(&x, table[jointSymbols &+ e], scaleBits: jointScale, out: &out)
                Rans.put(&x, table[jointSymbols &- 1], scaleBits: jointScale, out: &out)
            }
        }
        var i = n - 1
        while i & 3 != 3 {  // the last few elements, so the rest comes in whole groups of four
            switch i & 3 {
            case 0: put(&x0, i)
            case 1: put(&x1, i)
            default: put(&x2, i)
            }
            i -= 1
        }
        while i >= 3 {
            put(&x3, i)
            put(&x2, i - 1)
            put(&x1, i - 2)
            put(&x0, i - 3)
            i -= 4
        }
        for x in [x3, x2, x1, x0] {  // read back as states 0, 1, 2, 3, each high word first
            out -= 1; out.pointee = UInt16(truncatingIfNeeded: x)
            out -= 1; out.pointee = UInt16(truncatingIfNeeded: x >> 16)
        }
        let wordCount = words + capacity - out

        var payload: [UInt8] = [version, UInt8(blockLog), UInt8(common.count)]
        payload += common.map(UInt8.init)
        for f in expFreq + nibFreq { appendTable(f, to: &payload) }
        var packed = [UInt8](repeating: 0, count: (blocks + 3) / 4)
        for b in 0..<blocks { packed[b >> 2] |= blockClass[b] << UInt8(2 * (b & 3)) }
        payload += packed
        payload += nibbles
        let lowNibbleBits = nibbleCount.reduce(0.0) { h, c in c == 0 ? h : h - Double(c) / Double(n) * log2(Double(c) / Double(n)) }
        ChunkCodec.appendLength(wordCount, to: &payload)
        for k in 0..<wordCount { out[k] = out[k].littleEndian }
        payload += UnsafeRawBufferPointer(start: out, count: 2 * wordCount)
        return (payload, lowNibbleBits)
    }

    /// The tables both sides derive from the transmitted ones.
    struct Model {
        /// Per class: symbol `16 c + h` = exponent `common[c]` with high nibble `h`, then the
        /// escape symbol (`16 C`), out of `jointTotal`.
        var joint: [[UInt16]] = []
        /// Per class: p(exponent | class, escaped), out of `jointTotal` (zeros when nothing escapes).
        var rare: [[UInt16]] = []

        init(common: [Int], expFreq: [[UInt16]], nibFreq: [[UInt16]]) {
            var isCommon = [Bool](repeating: false, count: 256)
            for e in common { isCommon[e] = true }
            for k in 0..<classCount {
                // Integer products, so encoder and decoder normalise the very same counts.
                var counts = [Int](repeating: 0, count: common.count * 16 + 1)
                for (c, e) in common.enumerated() {
                    for h in 0..<16 { counts[c * 16 + h] = Int(expFreq[k][e]) * Int(nibFreq[c][h]) }
                }
                var rareCounts = [Int](repeating: 0, count: 256)
                for e in 0..<256 where !isCommon[e] { rareCounts[e] = Int(expFreq[k][e]) }
                counts[common.count * 16] = rareCounts.reduce(0, +) * nibbleTotal
                joint.append(counts.withUnsafeBufferPointer { Rans.normalize($0, total: jointTotal) })
                rare.append(rareCounts.withUnsafeBufferPointer { Rans.normalize($0, total: jointTotal) })
            }
        }
    }

    static func appendTable(_ f: [UInt16], to out: inout [UInt8]) {
        let used = f.indices.filter { f[$0] > 0 }
        out += [UInt8(used.count & 0xFF), UInt8(used.count >> 8)]
        for s in used { out += [UInt8(s), UInt8(f[s] & 0xFF), UInt8(f[s] >> 8)] }
    }

    /// Decodes a payload written by `encode` into `n` BF16 elements at `dst`. Throws on any
    /// inconsistency: bad tables, a stream that ends early or late, states that do not return
    /// to their start.
    static func decode(_ p: UnsafeRawBufferPointer, count n: Int, into dst: UnsafeMutableRawPointer) throws {
        func bad(_ what: String) -> RecallError { RecallError(.invalidFile, "chunk (format 3): \(what)") }
        var at = 0
        func byte() throws -> Int {
            guard at < p.count else { throw bad("truncated") }
            defer { at += 1 }
            return Int(p[at])
        }
        func u16() throws -> Int { let lo = try byte(); return try lo | byte() << 8 }
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
        func table(_ symbols: Int, total: Int) throws -> [UInt16] {
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
        let expFreq = try (0..<classCount).map { _ in try table(256, total: exponentTotal) }
        let nibFreq = try (0...contexts).map { _ in try table(16, total: nibbleTotal) }
        let model = Model(common: common, expFreq: expFreq, nibFreq: nibFreq)

        // Slots: per class the joint then the rare-exponent table; then the rare nibbles.
        let perClass = 2 * jointTotal
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: classCount * perClass + nibbleTotal)
        defer { slots.deallocate() }
        let jointValue: (Int) -> UInt16 = { s in s == contexts * 16 ? escape : UInt16(common[s >> 4] << 4 | s & 15) }
        for k in 0..<classCount {
            Rans.decodeSlots(model.joint[k], total: jointTotal, value: jointValue, into: slots + k * perClass)
            Rans.decodeSlots(model.rare[k], total: jointTotal, value: { UInt16($0) }, into: slots + k * perClass + jointTotal)
        }
        let rareNibble = UnsafePointer(slots + classCount * perClass)
        Rans.decodeSlots(nibFreq[contexts], total: nibbleTotal, value: { UInt16($0) }, into: slots + classCount * perClass)

        let blocks = (n + (1 << blockLog) - 1) >> blockLog
        let classBytes = (blocks + 3) / 4, nibbleBytes = (n + 1) / 2
        guard p.count - at >= classBytes + nibbleBytes + 4 else { throw bad("truncated") }
        let classes = p.baseAddress! + at
        let nibbles = classes + classBytes
        at += classBytes + nibbleBytes
        let wordCount = Int(p[at]) | Int(p[at + 1]) << 8 | Int(p[at + 2]) << 16 | Int(p[at + 3]) << 24
        at += 4
        guard wordCount >= 8, p.count - at == 2 * wordCount else { throw bad("stream length does not match") }
        // The words are read in place. A block takes at most three words per element and every
        // step reads one word ahead, so once fewer than `padding` words remain, the rest is
        // copied into a buffer followed by zeros; checking for an overrun once per block then
        // keeps every read inside the payload or that buffer.
        let padding = 3 << blockLog
        let stream = p.baseAddress! + at
        func word(_ k: Int) -> UInt32 { UInt32(UInt16(littleEndian: stream.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        var x0 = word(0) << 16 | word(1), x1 = word(2) << 16 | word(3)
        var x2 = word(4) << 16 | word(5), x3 = word(6) << 16 | word(7)
        var w = stream + 16, end = stream + 2 * wordCount
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
        for b in 0..<blocks {
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
            let cls = Int(classes.load(fromByteOffset: b >> 2, as: UInt8.self) >> UInt8(2 * (b & 3)) & 3)
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
            let nib = nibbles + lo >> 1
            var k = 0
            while k + 32 <= count {  // 16 nibble bytes -> 32 elements
                let bytes = nib.loadUnaligned(fromByteOffset: k >> 1, as: SIMD16<UInt8>.self)
                // As UInt16 lanes `lo | hi << 8`, which in memory order is one nibble per element.
                let spread = unsafeBitCast(SIMD16<UInt16>(truncatingIfNeeded: bytes & 15) | SIMD16<UInt16>(truncatingIfNeeded: bytes &>> 4) &<< 8,
                                           to: SIMD32<UInt8>.self)
                for half in 0..<2 {
                    let low = SIMD16<UInt16>(truncatingIfNeeded: half == 0 ? spread.lowHalf : spread.highHalf)
                    let r = UnsafeRawPointer(values).loadUnaligned(fromByteOffset: 2 * (k + 16 * half), as: SIMD16<UInt16>.self) &<< 4 | low
                    dst.storeBytes(of: r &>> 1 | r &<< 15, toByteOffset: 2 * (lo + k + 16 * half), as: SIMD16<UInt16>.self)
                }
                k += 32
            }
            while k < count {
                let byte = UInt16(nib.load(fromByteOffset: k >> 1, as: UInt8.self))
                let r = values[k] << 4 | (k & 1 == 0 ? byte & 15 : byte >> 4)
                dst.storeBytes(of: r >> 1 | r << 15, toByteOffset: 2 * (lo + k), as: UInt16.self)
                k += 1
            }
        }
        guard x0 == Rans.lowerBound, x1 == Rans.lowerBound, x2 == Rans.lowerBound, x3 == Rans.lowerBound, w == end else {
            throw bad("stream is corrupt")
        }
    }

    /// Decoded value of the escape symbol (a real value has 12 bits).
    static let escape: UInt16 = 0xFFFF
}
