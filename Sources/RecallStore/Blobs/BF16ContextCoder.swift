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
        let planes = rotateAndCount(src, count: n, into: rotated)
        let blockClass = blockClasses(blockSum: planes.blockSum, count: n)
        let common = nibbleContexts(expCount: planes.expCount, count: n)
        let (expFreq, nibFreq) = conditionalTables(rotated, count: n, blockClass: blockClass, common: common)
        let model = Model(common: common, expFreq: expFreq, nibFreq: nibFreq)

        var payload: [UInt8] = [version, UInt8(blockLog), UInt8(common.count)]
        payload += common.map(UInt8.init)
        for f in expFreq + nibFreq { appendTable(f, to: &payload) }
        var packed = [UInt8](repeating: 0, count: (blockClass.count + 3) / 4)
        for b in blockClass.indices { packed[b >> 2] |= blockClass[b] << UInt8(2 * (b & 3)) }
        payload += packed
        payload += planes.nibbles
        let lowNibbleBits = planes.nibbleCount.reduce(0.0) { h, c in c == 0 ? h : h - Double(c) / Double(n) * log2(Double(c) / Double(n)) }
        appendStream(rotated, count: n, blockClass: blockClass, common: common, model: model, rareNibbleFreq: nibFreq[common.count], to: &payload)
        return (payload, lowNibbleBits)
    }

    /// What the first pass over a chunk learns: order-0 counts of exponents and low nibbles,
    /// the low nibbles packed two per byte, and the exponents summed per block.
    struct PlaneCounts {
        var expCount: [Int]
        var nibbleCount: [Int]
        var nibbles: [UInt8]
        var blockSum: [Int]
    }

    /// First pass: rotates every element (sign to the bottom) into `rotated` and counts.
    static func rotateAndCount(_ src: UnsafeRawPointer, count n: Int, into rotated: UnsafeMutablePointer<UInt16>) -> PlaneCounts {
        // Counting goes through buffer pointers (an array subscript in these loops costs a
        // uniqueness check per element) and into four interleaved histograms: exponents repeat
        // a lot, and increments of one counter would wait on each other.
        var expCount = [Int](repeating: 0, count: 256)
        var nibbleCount = [Int](repeating: 0, count: 16)
        var nibbles = [UInt8](repeating: 0, count: (n + 1) / 2)
        let blockSize = 1 << blockLog
        let blocks = (n + blockSize - 1) / blockSize
        var blockSum = [Int](repeating: 0, count: blocks)  // exponents summed per block, for the classes
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
        return PlaneCounts(expCount: expCount, nibbleCount: nibbleCount, nibbles: nibbles, blockSum: blockSum)
    }

    /// Block classes by the quartiles of the blocks' mean exponents.
    static func blockClasses(blockSum: [Int], count n: Int) -> [UInt8] {
        let blockSize = 1 << blockLog
        let blocks = blockSum.count
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
        return blockClass
    }

    /// Nibble contexts: the most frequent exponents (most frequent first); every other
    /// exponent shares one more table.
    static func nibbleContexts(expCount: [Int], count n: Int) -> [Int] {
        (0..<256).filter { expCount[$0] > 0 && expCount[$0] * contextShare >= n && expCount[$0] >= minContextCount }
            .sorted { expCount[$0] > expCount[$1] }.prefix(maxContexts).map { $0 }
    }

    /// Second pass: the transmitted tables, p(exponent | block class) per class and
    /// p(high nibble | exponent context) per context plus the shared one.
    static func conditionalTables(_ rotated: UnsafeMutablePointer<UInt16>, count n: Int, blockClass: [UInt8], common: [Int])
        -> (expFreq: [[UInt16]], nibFreq: [[UInt16]]) {
        let blockSize = 1 << blockLog
        let blocks = blockClass.count
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
        return (expFreq, nibFreq)
    }

    /// Third pass: rANS over the high 12 bits of every element, backwards, element i on state
    /// i % 4; appends `[u32 words]` and the words, the four states first.
    static func appendStream(_ rotated: UnsafeMutablePointer<UInt16>, count n: Int, blockClass: [UInt8], common: [Int], model: Model,
                             rareNibbleFreq: [UInt16], to payload: inout [UInt8]) {
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
        Rans.encodeSymbols(rareNibbleFreq, into: rareNibble)

        let capacity = 3 * n + 9  // words: at most one per symbol, the final states, one spare below
        let words = UnsafeMutablePointer<UInt16>.allocate(capacity: capacity)
        defer { words.deallocate() }
        var out = words + capacity
        var x0 = Rans.lowerBound, x1 = Rans.lowerBound, x2 = Rans.lowerBound, x3 = Rans.lowerBound
        let context = UnsafeMutablePointer<Int>.allocate(capacity: 256)
        defer { context.deallocate() }
        for e in 0..<256 { context[e] = common.count }
        for (k, e) in common.enumerated() { context[e] = k }
        let blocks = blockClass.count
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
        ChunkCodec.appendLength(wordCount, to: &payload)
        for k in 0..<wordCount { out[k] = out[k].littleEndian }
        payload += UnsafeRawBufferPointer(start: out, count: 2 * wordCount)
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
}
