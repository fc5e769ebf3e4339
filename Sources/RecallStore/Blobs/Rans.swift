/// Static range asymmetric numeral systems (rANS): the entropy coder behind `BF16ContextCoder`.
///
/// Why not zstd's Huffman: an exponent byte carries about 2.6 bits, and a Huffman code pays
/// whole bits per symbol, which costs more than the context modelling gains (see
/// `BF16ContextCoder`). rANS codes within a fraction of a percent of the entropy.
///
/// Conventions: probabilities are frequencies out of 2^scaleBits (at most 2^12; a table's scale
/// is chosen by the caller: small alphabets need fewer bits, and smaller decode tables stay in
/// cache); the state is 32 bits kept in [2^16, 2^32) and moves 16-bit words in and out. The
/// encoder runs backwards over the symbols and writes words from the end of its buffer towards
/// the front, so the decoder reads forwards.
enum Rans {
    static let lowerBound: UInt32 = 1 << 16

    /// Scales `counts` to frequencies that sum to `total` (a power of two up to 2^12), every
    /// counted symbol keeping at least 1. All zeros when nothing was counted (a table no symbol
    /// will use).
    ///
    /// Part of the stored format: `BF16ContextCoder`'s decoder rebuilds its joint tables with
    /// this function, so any change makes stored chunks undecodable (StoredChunkFormatTests).
    static func normalize(_ counts: UnsafeBufferPointer<Int>, total: Int) -> [UInt16] {
        let sum = counts.reduce(0, +)
        var freq = [UInt16](repeating: 0, count: counts.count)
        guard sum > 0 else { return freq }
        var assigned = 0, largest = 0
        for s in 0..<counts.count where counts[s] > 0 {
            let f = max(1, Int((Double(counts[s]) * Double(total) / Double(sum)).rounded()))
            freq[s] = UInt16(min(f, total))
            assigned += Int(freq[s])
            if freq[s] > freq[largest] || counts[largest] == 0 { largest = s }
        }
        var excess = assigned - total
        if excess < Int(freq[largest]) {  // the usual case: the largest absorbs the rounding
            freq[largest] = UInt16(Int(freq[largest]) - excess)
            return freq
        }
        // Many rare symbols rounded up to 1: take the excess from every symbol above 1. (With
        // more counted symbols than `total` nothing fits: callers keep alphabets smaller, and
        // the loop stops rather than spin when no symbol is above 1.)
        while excess > 0 {
            var taken = 0
            for s in 0..<freq.count where freq[s] > 1 && excess > 0 {
                freq[s] -= 1
                excess -= 1
                taken += 1
            }
            if taken == 0 { return [UInt16](repeating: 0, count: counts.count) }
        }
        return freq
    }

    /// One symbol of an encoding table. `reciprocal` = ceil(2^52 / freq) turns the state's
    /// division by `freq` into a multiplication: floor(x * reciprocal / 2^52) = floor(x / freq)
    /// for every 32-bit x, since the rounding error x * (reciprocal * freq - 2^52) / (freq * 2^52)
    /// stays below x / 2^52 < 2^-20 while x / freq's fraction is at most 1 - 1/freq (freq <= 2^12).
    struct EncodeSymbol {
        var freq: UInt32 = 0
        var start: UInt32 = 0
        var reciprocal: UInt64 = 0
    }

    /// Fills `table[0..<freq.count]` from a frequency table.
    static func encodeSymbols(_ freq: [UInt16], into table: UnsafeMutablePointer<EncodeSymbol>) {
        var at: UInt32 = 0
        for s in 0..<freq.count {
            let f = UInt64(freq[s])
            table[s] = EncodeSymbol(freq: UInt32(f), start: at, reciprocal: f == 0 ? 0 : ((1 << 52) + f - 1) / f)
            at += UInt32(f)
        }
    }

    /// Decoding table for one frequency table: one `UInt64` per slot of `total`, packing the
    /// value the caller wants for the symbol (bits 0-15), its frequency (bits 16-31) and the
    /// slot's offset inside the symbol's range (bits 32-47), so a decode step is one load.
    static func decodeSlots(_ freq: [UInt16], total: Int, value: (Int) -> UInt16, into slots: UnsafeMutablePointer<UInt64>) {
        var at = 0
        for s in 0..<freq.count {
            let f = Int(freq[s])
            guard f > 0 else { continue }
            let entry = UInt64(value(s)) | UInt64(f) << 16
            for k in 0..<f { slots[at + k] = entry | UInt64(k) << 32 }
            at += f
        }
        // An all-zero table (no symbol counted) leaves zeros: decoding with it yields garbage
        // that the end-of-stream check rejects, never a trap.
        for k in at..<total { slots[k] = 0 }
    }

    /// Encodes one symbol into `x`, writing a 16-bit word below `out` when the state would overflow.
    @inline(__always)
    static func put(_ x: inout UInt32, _ s: EncodeSymbol, scaleBits: UInt32, out: inout UnsafeMutablePointer<UInt16>) {
        // Branch-free renormalisation (`out` always has room below it: see the callers).
        let emit = UInt64(x) >= UInt64(s.freq) << (32 - scaleBits)  // (lowerBound >> scaleBits) << 16
        (out - 1).pointee = UInt16(truncatingIfNeeded: x)
        out -= emit ? 1 : 0
        x = emit ? x >> 16 : x
        let q = UInt32(truncatingIfNeeded: (UInt64(x) << 12).multipliedFullWidth(by: s.reciprocal).high)
        x = q << scaleBits &+ (x &- q &* s.freq) &+ s.start
    }

    /// Decodes one symbol from `x` with `slots` (see `decodeSlots`); takes a little-endian word
    /// from `words` when the state drops below the lower bound. Always reads it: the caller
    /// keeps `words` readable past the stream's end (see `BF16ContextCoder.decode`). Wrapping
    /// arithmetic: corrupt input must not trap.
    @inline(__always)
    static func take(_ x: inout UInt32, slots: UnsafePointer<UInt64>, scaleBits: UInt32, words: inout UnsafeRawPointer) -> UInt32 {
        let e = slots[Int(x & (1 << scaleBits - 1))]
        x = UInt32(truncatingIfNeeded: e >> 16) & 0xFFFF &* (x >> scaleBits) &+ UInt32(truncatingIfNeeded: e >> 32)
        // Branch-free refill: whether a word is due is data, a branch on it mispredicts often.
        let refill = x < lowerBound
        let word = UInt32(UInt16(littleEndian: words.loadUnaligned(as: UInt16.self)))
        x = refill ? x << 16 | word : x
        words += refill ? 2 : 0
        return UInt32(truncatingIfNeeded: e) & 0xFFFF
    }
}
