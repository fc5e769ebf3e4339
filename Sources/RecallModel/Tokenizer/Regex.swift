import Foundation

/// A pre-tokenizer regex. The well-known patterns (GPT-2's, Llama-3's, Qwen2's) run as hand-written
/// scanners that reproduce Oniguruma's leftmost-first backtracking result; anything else runs on
/// ICU (NSRegularExpression) after `\s`/`\S` are rewritten to Oniguruma's meaning.
enum PreTokenizerRegex: Sendable {
    case gpt2
    /// Llama-3 (`maxDigits` 3) and Qwen2 (`maxDigits` 1).
    case llama3(maxDigits: Int)
    case icu(ICURegex)

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// - Parameter generic: force the ICU path (tests compare it with the scanners).
    static func make(_ pattern: String, generic: Bool = false) throws -> PreTokenizerRegex {
        if !generic {
            switch pattern {
            case gpt2Pattern: return .gpt2
            case llama3Pattern: return .llama3(maxDigits: 3)
            case qwen2Pattern: return .llama3(maxDigits: 1)
            default: break
            }
        }
        return .icu(try ICURegex(pattern))
    }

    /// Appends the byte ranges (relative to the piece) of all non-overlapping matches.
    func matches(_ piece: UnsafeBufferPointer<UInt8>, scratch: inout ScalarBuffer, into out: inout [(Int, Int)]) {
        switch self {
        case .gpt2:
            scratch.load(piece)
            Self.scanGPT2(scratch, into: &out)
        case .llama3(let maxDigits):
            scratch.load(piece)
            Self.scanLlama3(scratch, maxDigits: maxDigits, into: &out)
        case .icu(let re):
            re.matches(piece, into: &out)
        }
    }

    // MARK: - Scanners

    private static let apostrophe: UInt32 = 0x27

    /// End (scalar index) of the run of scalars from `i` whose class has any bit of `mask`.
    @inline(__always)
    private static func run(_ c: [UInt8], _ i: Int, _ mask: UInt8) -> Int {
        var j = i
        while j < c.count && c[j] & mask != 0 { j += 1 }
        return j
    }

    /// End of a run of "other" scalars (`[^\s\p{L}\p{N}]`).
    @inline(__always)
    private static func otherRun(_ c: [UInt8], _ i: Int) -> Int {
        var j = i
        while j < c.count && c[j] & (ScalarClass.letter | ScalarClass.number | ScalarClass.space) == 0 { j += 1 }
        return j
    }

    @inline(__always)
    private static func isOther(_ cls: UInt8) -> Bool {
        cls & (ScalarClass.letter | ScalarClass.number | ScalarClass.space) == 0
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar i.
    @inline(__always)
    private static func whitespaceTail(_ c: [UInt8], _ i: Int) -> Int {
        let j = run(c, i, ScalarClass.space)
        if j == c.count { return j }
        if j - 1 > i { return j - 1 }
        return j
    }

    /// Contraction at i (`'s|'t|'re|'ve|'m|'ll|'d`), returning its end, or nil.
    @inline(__always)
    private static func contraction(_ s: [UInt32], _ i: Int, caseInsensitive: Bool) -> Int? {
        guard s[i] == apostrophe, i + 1 < s.count else { return nil }
        @inline(__always) func fold(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 0x20 }
            if v == 0x17F { return 0x73 }        // LATIN SMALL LETTER LONG S folds to 's'
            return v
        }
        let a = fold(s[i + 1])
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return i + 2            // s t m d
        default: break
        }
        guard i + 2 < s.count else { return nil }
        let b = fold(s[i + 2])
        switch (a, b) {
        case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return i + 3   // re ve ll
        default: return nil
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func scanGPT2(_ b: ScalarBuffer, into out: inout [(Int, Int)]) {
        let s = b.scalars, c = b.classes, off = b.offsets
        let n = s.count
        var i = 0
        while i < n {
            var end: Int
            if let e = contraction(s, i, caseInsensitive: false) {
                end = e
            } else {
                let spaceFirst = s[i] == 0x20 && i + 1 < n
                let next: UInt8 = spaceFirst ? c[i + 1] : 0
                let ci = c[i]
                if spaceFirst && next & ScalarClass.letter != 0 {
                    end = run(c, i + 1, ScalarClass.letter)
                } else if ci & ScalarClass.letter != 0 {
                    end = run(c, i, ScalarClass.letter)
                } else if spaceFirst && next & ScalarClass.number != 0 {
                    end = run(c, i + 1, ScalarClass.number)
                } else if ci & ScalarClass.number != 0 {
                    end = run(c, i, ScalarClass.number)
                } else if spaceFirst && isOther(next) {
                    end = otherRun(c, i + 1)
                } else if isOther(ci) {
                    end = otherRun(c, i)
                } else {
                    end = whitespaceTail(c, i)
                }
            }
            out.append((off[i], off[end]))
            i = end
        }
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func scanLlama3(_ b: ScalarBuffer, maxDigits: Int, into out: inout [(Int, Int)]) {
        let s = b.scalars, c = b.classes, off = b.offsets
        let n = s.count
        let L = ScalarClass.letter, N = ScalarClass.number, S = ScalarClass.space, CR = ScalarClass.crlf
        var i = 0
        while i < n {
            var end: Int
            let ci = c[i]
            if let e = contraction(s, i, caseInsensitive: true) {
                end = e
            } else if ci & (L | N | CR) == 0 && i + 1 < n && c[i + 1] & L != 0 {
                end = run(c, i + 1, L)
            } else if ci & L != 0 {
                end = run(c, i, L)
            } else if ci & N != 0 {
                end = i + 1
                while end < n && end - i < maxDigits && c[end] & N != 0 { end += 1 }
            } else if (s[i] == 0x20 && i + 1 < n && isOther(c[i + 1])) || isOther(ci) {
                end = otherRun(c, isOther(ci) ? i : i + 1)
                end = run(c, end, CR)
            } else {
                // ci is whitespace. `\s*[\r\n]+`: up to and including the last CR/LF of the run.
                let j = run(c, i, S)
                var k = j - 1
                while k >= i && c[k] & CR == 0 { k -= 1 }
                if k >= i {
                    end = k + 1
                } else {
                    end = whitespaceTail(c, i)
                }
            }
            out.append((off[i], off[end]))
            i = end
        }
    }
}

/// NSRegularExpression with Oniguruma's `\s`; matches are reported in UTF-8 byte offsets.
final class ICURegex: @unchecked Sendable {  // NSRegularExpression is immutable and thread-safe
    let regex: NSRegularExpression
    let pattern: String

    /// Oniguruma's `\s` (what `tokenizers` uses) is U+0009-000D, U+0085 and Z; ICU's lacks U+000B and U+0085.
    static let spaceSet = #"\t\n\x{0B}\f\r\x{85}\p{Z}"#

    init(_ pattern: String) throws {
        self.pattern = pattern
        do {
            regex = try NSRegularExpression(pattern: ICURegex.translate(pattern), options: [])
        } catch {
            throw TokenizerError.plain("regex '\(pattern)' does not compile: \(error.localizedDescription)")
        }
    }

    static func translate(_ pattern: String) -> String {
        var out = ""
        var depth = 0
        var it = Array(pattern.unicodeScalars)[...]
        while let ch = it.popFirst() {
            if ch == "\\", let next = it.popFirst() {
                switch next {
                case "s": out += depth > 0 ? spaceSet : "[\(spaceSet)]"
                case "S": out += "[^\(spaceSet)]"
                default: out.unicodeScalars.append(ch); out.unicodeScalars.append(next)
                }
                continue
            }
            if ch == "[" { depth += 1 } else if ch == "]" && depth > 0 { depth -= 1 }
            out.unicodeScalars.append(ch)
        }
        return out
    }

    func matches(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [(Int, Int)]) {
        let string = String(decoding: piece, as: UTF8.self)
        let ns = string as NSString
        // UTF-16 offset -> UTF-8 offset
        var map = [Int](repeating: 0, count: ns.length + 1)
        var u16 = 0, u8 = 0
        for scalar in string.unicodeScalars {
            let w16 = scalar.utf16.count
            let w8 = scalar.utf8.count
            map[u16] = u8
            if w16 == 2 { map[u16 + 1] = u8 }
            u16 += w16
            u8 += w8
        }
        map[u16] = u8
        for m in regex.matches(in: string, options: [], range: NSRange(location: 0, length: ns.length)) {
            out.append((map[m.range.location], map[m.range.location + m.range.length]))
        }
    }

    /// Replaces every match with `replacement` taken literally (Replace normalizer/decoder with a Regex pattern).
    func replacingMatches(in s: String, with template: String) -> String {
        regex.stringByReplacingMatches(in: s, options: [], range: NSRange(location: 0, length: (s as NSString).length),
                                       withTemplate: NSRegularExpression.escapedTemplate(for: template))
    }
}
