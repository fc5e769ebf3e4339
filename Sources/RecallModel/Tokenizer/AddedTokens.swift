/// Added (and special) tokens: matched in the text before anything else, never split by BPE.
/// Mirrors `AddedVocabulary::find_matches` of `tokenizers`: leftmost-longest matching, then
/// single_word / lstrip / rstrip. Tokens with `normalized: false` are matched on the raw text,
/// the others on the normalized pieces (with their content normalized too).
struct AddedToken: Sendable, Equatable {
    var id: Int
    var content: String
    var singleWord = false
    var lstrip = false
    var rstrip = false
    var normalized = true
    var special = false
}

struct AddedTokenMatcher: Sendable {
    private var patterns: [[UInt8]] = []
    private var tokens: [AddedToken] = []
    /// pattern indices by first byte, longest first
    private var byFirstByte: [[Int]] = Array(repeating: [], count: 256)

    init(_ tokens: [AddedToken], content: (AddedToken) -> String = { $0.content }) {
        for t in tokens {
            let bytes = Array(content(t).utf8)
            guard !bytes.isEmpty else { continue }
            // A later token with the same pattern replaces the earlier one (as a map from pattern).
            if let existing = patterns.firstIndex(of: bytes) {
                self.tokens[existing] = t
                continue
            }
            patterns.append(bytes)
            self.tokens.append(t)
        }
        for (i, p) in patterns.enumerated() { byFirstByte[Int(p[0])].append(i) }
        for b in 0..<256 { byFirstByte[b].sort { patterns[$0].count > patterns[$1].count } }
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// Splits `text` into (start, end, token id or nil) covering it, like `find_matches`.
    func split(_ text: UnsafeBufferPointer<UInt8>, into out: inout [(Int, Int, Int?)]) {
        out.removeAll(keepingCapacity: true)
        let n = text.count
        if n == 0 || patterns.isEmpty {
            out.append((0, n, nil))
            return
        }
        var startOffset = 0
        var pos = 0
        while pos < n {
            let candidates = byFirstByte[Int(text[pos])]
            var found = -1
            if !candidates.isEmpty {
                for c in candidates {
                    let p = patterns[c]
                    if pos + p.count <= n {
                        var j = 1
                        while j < p.count && text[pos + j] == p[j] { j += 1 }
                        if j == p.count { found = c; break }
                    }
                }
            }
            if found < 0 { pos += 1; continue }
            let mStart = pos, mEnd = pos + patterns[found].count
            pos = mEnd
            let token = tokens[found]
            if token.singleWord {
                let startSpace = mStart == 0 || !Self.endsWithWord(text, mStart)
                let stopSpace = mEnd == n || !Self.startsWithWord(text, mEnd)
                if !startSpace || !stopSpace { continue }
            }
            var start = mStart, stop = mEnd
            if token.lstrip {
                start = max(Self.leftmostSpaceAtEnd(text, start), startOffset)
            }
            if token.rstrip {
                stop = Self.rightmostSpaceAtStart(text, stop)
            }
            if startOffset < start { out.append((startOffset, start, nil)) }
            out.append((start, stop, token.id))
            startOffset = stop
        }
        if startOffset != n { out.append((startOffset, n, nil)) }
    }

    // MARK: - Scalar helpers over UTF-8 (Rust regex `\w` / `\s` semantics)

    private static func scalar(at i: Int, _ t: UnsafeBufferPointer<UInt8>) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(t[i])
        if b0 < 0x80 { return (Unicode.Scalar(b0)!, 1) }
        if b0 < 0xE0 { return (Unicode.Scalar((b0 & 0x1F) << 6 | UInt32(t[i + 1] & 0x3F)) ?? "\u{FFFD}", 2) }
        if b0 < 0xF0 {
            let v = (b0 & 0x0F) << 12 | UInt32(t[i + 1] & 0x3F) << 6 | UInt32(t[i + 2] & 0x3F)
            return (Unicode.Scalar(v) ?? "\u{FFFD}", 3)
        }
        let v = (b0 & 0x07) << 18 | UInt32(t[i + 1] & 0x3F) << 12 | UInt32(t[i + 2] & 0x3F) << 6 | UInt32(t[i + 3] & 0x3F)
        return (Unicode.Scalar(v) ?? "\u{FFFD}", 4)
    }

    /// Start of the scalar that ends at byte `end`.
    private static func previousStart(_ t: UnsafeBufferPointer<UInt8>, _ end: Int) -> Int {
        var i = end - 1
        while i > 0 && t[i] & 0xC0 == 0x80 { i -= 1 }
        return i
    }

    static func endsWithWord(_ t: UnsafeBufferPointer<UInt8>, _ end: Int) -> Bool {
        guard end > 0 else { return false }
        return ScalarClass.isRustWord(scalar(at: previousStart(t, end), t).0)
    }

    static func startsWithWord(_ t: UnsafeBufferPointer<UInt8>, _ start: Int) -> Bool {
        guard start < t.count else { return false }
        return ScalarClass.isRustWord(scalar(at: start, t).0)
    }

    /// Start of the whitespace run that ends at `end` (`\s*$` on text[..<end]).
    static func leftmostSpaceAtEnd(_ t: UnsafeBufferPointer<UInt8>, _ end: Int) -> Int {
        var i = end
        while i > 0 {
            let s = previousStart(t, i)
            if !scalar(at: s, t).0.properties.isWhitespace { break }
            i = s
        }
        return i
    }

    /// End of the whitespace run that starts at `start` (`^\s*` on text[start...]).
    static func rightmostSpaceAtStart(_ t: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var i = start
        while i < t.count {
            let (u, len) = scalar(at: i, t)
            if !u.properties.isWhitespace { break }
            i += len
        }
        return i
    }
}
