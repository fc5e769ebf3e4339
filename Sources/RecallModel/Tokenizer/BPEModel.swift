/// The BPE model of `tokenizers` (models/bpe): vocabulary, ranked merges, unk / byte_fallback /
/// ignore_merges handling. Works on the UTF-8 bytes of a piece; in byte-level mode each byte is one
/// initial symbol (the byte's mapped character), otherwise each Unicode scalar is.
struct BPEModel: Sendable {
    /// token string -> id
    let vocab: [String: Int]
    /// id -> token string (nil where the id is unused)
    let idToToken: [String?]
    /// Source bytes -> id: byte-level tokens un-mapped to raw bytes, other tokens as UTF-8.
    let wordIDs: BytesMap
    let merges: PairMap
    let byteLevel: Bool
    let unkID: Int32?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// Byte-level: id of each byte's character, -1 if not in the vocabulary.
    let byteIDs: [Int32]
    /// Byte-level: byte_fallback ids of each byte's character (its UTF-8 as <0xXX> tokens), empty if unavailable.
    let byteFallbackIDs: [[Int32]]
    /// id of "<0xXX>" for each byte, -1 if absent.
    let hexIDs: [Int32]

    init(vocab: [String: Int], merges: [(String, String)], byteLevel: Bool, unkToken: String?, fuseUnk: Bool,
         byteFallback: Bool, ignoreMerges: Bool) throws {
        self.vocab = vocab
        self.byteLevel = byteLevel
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges

        let maxID = vocab.values.max() ?? -1
        guard maxID < Int(Int32.max) else { throw TokenizerError.plain("model.vocab: id \(maxID) is too large") }
        var idToToken = [String?](repeating: nil, count: maxID + 1)
        var wordIDs = BytesMap(capacity: vocab.count)
        for (token, id) in vocab {
            guard id >= 0 else { throw TokenizerError.plain("model.vocab: token '\(token)' has negative id \(id)") }
            idToToken[id] = token
            if byteLevel {
                if let raw = ByteLevelMap.decode(token) { wordIDs.set(raw, id) }
            } else {
                wordIDs.set(Array(token.utf8), id)
            }
        }
        self.idToToken = idToToken
        self.wordIDs = wordIDs

        if let unkToken {
            guard let id = vocab[unkToken] else {
                throw TokenizerError.plain("model.unk_token '\(unkToken)' is not in model.vocab")
            }
            unkID = Int32(id)
        } else {
            unkID = nil
        }

        var hexIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let hex = String(b, radix: 16, uppercase: true)
            let name = "<0x" + (hex.count < 2 ? "0" + hex : hex) + ">"
            if let id = vocab[name] { hexIDs[b] = Int32(id) }
        }
        self.hexIDs = hexIDs

        var byteIDs = [Int32](repeating: -1, count: 256)
        var byteFallbackIDs = [[Int32]](repeating: [], count: 256)
        for b in 0..<256 {
            let ch = String(Unicode.Scalar(ByteLevelMap.byteToScalar[b])!)
            if let id = vocab[ch] { byteIDs[b] = Int32(id) }
            let fb = ch.utf8.map { hexIDs[Int($0)] }
            if !fb.contains(-1) { byteFallbackIDs[b] = fb }
        }
        self.byteIDs = byteIDs
        self.byteFallbackIDs = byteFallbackIDs

        var table = PairMap(capacity: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a] else { throw TokenizerError.plain("model.merges[\(rank)]: token '\(a)' is not in model.vocab") }
            guard let ib = vocab[b] else { throw TokenizerError.plain("model.merges[\(rank)]: token '\(b)' is not in model.vocab") }
            guard let merged = vocab[a + b] else {
                throw TokenizerError.plain("model.merges[\(rank)]: merged token '\(a + b)' is not in model.vocab")
            }
            table.set(Int32(ia), Int32(ib), rank: Int32(rank), id: Int32(merged))
        }
        self.merges = table
    }

    // MARK: - Tokenizing one piece

    /// Appends the ids of one piece (UTF-8 bytes, already normalized and pre-tokenized).
    func tokenize(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int], state: inout BPEState) {
        if word.isEmpty { return }
        if ignoreMerges, let id = wordIDs.get(word) {
            out.append(id)
            return
        }
        if let hit = state.cache.get(word) {
            let start = hit >> 20, count = hit & 0xFFFFF
            for k in start..<(start + count) { out.append(Int(state.cachePool[k])) }
            return
        }
        initialSymbols(word, &state.symbols)
        mergeAll(&state)
        if word.count <= 256 && state.cache.count < 1 << 20 && state.cachePool.count < 1 << 40 {
            state.cache.set(word, state.cachePool.count << 20 | state.symbols.count)
            state.cachePool.append(contentsOf: state.symbols)
        }
        for s in state.symbols { out.append(Int(s)) }
    }

    /// `merge_word` before merging: one symbol per character, with unk fusing and byte fallback.
    private func initialSymbols(_ word: UnsafeBufferPointer<UInt8>, _ syms: inout [Int32]) {
        syms.removeAll(keepingCapacity: true)
        var pendingUnk = false
        @inline(__always) func known(_ id: Int32) {
            if pendingUnk { syms.append(unkID!); pendingUnk = false }
            syms.append(id)
        }
        @inline(__always) func unknown() {
            guard unkID != nil else { return }
            if pendingUnk && !fuseUnk { syms.append(unkID!) }
            pendingUnk = true
        }
        if byteLevel {
            for b in word {
                let id = byteIDs[Int(b)]
                if id >= 0 { known(id); continue }
                if byteFallback, !byteFallbackIDs[Int(b)].isEmpty {
                    syms.append(contentsOf: byteFallbackIDs[Int(b)])
                    continue
                }
                unknown()
            }
        } else {
            var i = 0
            while i < word.count {
                let b0 = word[i]
                let len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
                let end = min(i + len, word.count)
                if let id = wordIDs.get(UnsafeBufferPointer(rebasing: word[i..<end])) {
                    known(Int32(id))
                } else if byteFallback, (i..<end).allSatisfy({ hexIDs[Int(word[$0])] >= 0 }) {
                    for k in i..<end { syms.append(hexIDs[Int(word[k])]) }
                } else {
                    unknown()
                }
                i = end
            }
        }
        if pendingUnk { syms.append(unkID!) }
    }

    /// Applies merges lowest rank first (leftmost on ties) until none applies.
    private func mergeAll(_ state: inout BPEState) {
        let n = state.symbols.count
        if n < 2 { return }
        if n <= 64 { mergeSmall(&state.symbols, &state.ranks, &state.newIDs) } else { mergeLarge(&state) }
    }

    func mergeSmallForTesting(_ state: inout BPEState) {
        if state.symbols.count >= 2 { mergeSmall(&state.symbols, &state.ranks, &state.newIDs) }
    }

    func mergeLargeForTesting(_ state: inout BPEState) {
        if state.symbols.count >= 2 { mergeLarge(&state) }
    }

    /// Quadratic scan; fastest for ordinary words.
    private func mergeSmall(_ syms: inout [Int32], _ ranks: inout [Int32], _ newIDs: inout [Int32]) {
        ranks.removeAll(keepingCapacity: true)
        newIDs.removeAll(keepingCapacity: true)
        for i in 0..<(syms.count - 1) {
            if let m = merges.get(syms[i], syms[i + 1]) {
                ranks.append(m.rank); newIDs.append(m.id)
            } else {
                ranks.append(Int32.max); newIDs.append(-1)
            }
        }
        while true {
            var best = -1
            var bestRank = Int32.max
            for i in 0..<ranks.count where ranks[i] < bestRank {
                bestRank = ranks[i]
                best = i
            }
            if best < 0 { return }
            syms[best] = newIDs[best]
            syms.remove(at: best + 1)
            ranks.remove(at: best)
            newIDs.remove(at: best)
            if best > 0 {
                if let m = merges.get(syms[best - 1], syms[best]) {
                    ranks[best - 1] = m.rank; newIDs[best - 1] = m.id
                } else {
                    ranks[best - 1] = Int32.max; newIDs[best - 1] = -1
                }
            }
            if best < ranks.count {
                if let m = merges.get(syms[best], syms[best + 1]) {
                    ranks[best] = m.rank; newIDs[best] = m.id
                } else {
                    ranks[best] = Int32.max; newIDs[best] = -1
                }
            }
        }
    }

    /// Linked list + binary heap, as `Word::merge_all`; for long pieces.
    private func mergeLarge(_ state: inout BPEState) {
        let n = state.symbols.count
        var syms = state.symbols
        var prev = [Int32](repeating: 0, count: n)
        var next = [Int32](repeating: 0, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            prev[i] = Int32(i - 1)
            next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = merges.get(syms[i], syms[i + 1]) { heap.push(UInt64(UInt32(m.rank)) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let pos = Int(top & 0xFFFF_FFFF)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            guard let m = merges.get(syms[pos], syms[right]), m.rank == rank else { continue }
            syms[pos] = m.id
            alive[right] = false
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let p = prev[pos]
            if p >= 0, let pm = merges.get(syms[Int(p)], syms[pos]) {
                heap.push(UInt64(UInt32(pm.rank)) << 32 | UInt64(UInt32(p)))
            }
            if after >= 0, let nm = merges.get(syms[pos], syms[Int(after)]) {
                heap.push(UInt64(UInt32(nm.rank)) << 32 | UInt64(pos))
            }
        }
        state.symbols.removeAll(keepingCapacity: true)
        for i in 0..<n where alive[i] { state.symbols.append(syms[i]) }
    }
}

/// Per-call scratch and word cache (no locking: each encode call has its own).
struct BPEState {
    var symbols: [Int32] = []
    var ranks: [Int32] = []
    var newIDs: [Int32] = []
    var cache = BytesMap(capacity: 1024)
    var cachePool: [Int32] = []
}

struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ v: UInt64) {
        items.append(v)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && items[l] < items[m] { m = l }
            if r < n && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }
}
