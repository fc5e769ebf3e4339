import Foundation

/// Normalizers of `tokenizers` that BPE files use. Each runs on one piece of text (the parts
/// between non-normalized added tokens).
enum NormalizerStep: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case replace(ReplacePattern, String)
}

enum ReplacePattern: Sendable {
    case literal(String)
    case regex(ICURegex)

    func apply(_ s: String, _ content: String) -> String {
        switch self {
        case .literal(let pattern): return replaceLiteral(s, pattern, content)
        case .regex(let re): return re.replacingMatches(in: s, with: content)
        }
    }
}

/// Replaces every non-overlapping occurrence, comparing UTF-8 bytes (no Unicode equivalence).
func replaceLiteral(_ s: String, _ pattern: String, _ content: String) -> String {
    let p = Array(pattern.utf8)
    guard !p.isEmpty else { return s }
    let bytes = Array(s.utf8)
    let c = Array(content.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    var changed = false
    while i < bytes.count {
        if bytes[i] == p[0], i + p.count <= bytes.count, bytes[i..<(i + p.count)].elementsEqual(p) {
            out.append(contentsOf: c)
            i += p.count
            changed = true
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return changed ? String(decoding: out, as: UTF8.self) : s
}

struct Normalizer: Sendable {
    var steps: [NormalizerStep]

    /// ASCII is invariant under all four normal forms; scalars below U+0300 are NFC-stable
    /// (NFC_Quick_Check is Yes below U+0300), i.e. UTF-8 without a byte >= 0xCC.
    private static func below(_ s: String, _ limit: UInt8) -> Bool {
        var s = s
        return s.withUTF8 { buf in !buf.contains { $0 >= limit } }
    }

    func apply(_ input: String) -> String {
        var s = input
        for step in steps {
            switch step {
            case .nfc: if !Self.below(s, 0xCC) { s = s.precomposedStringWithCanonicalMapping }
            case .nfd: if !Self.below(s, 0x80) { s = s.decomposedStringWithCanonicalMapping }
            case .nfkc: if !Self.below(s, 0x80) { s = s.precomposedStringWithCompatibilityMapping }
            case .nfkd: if !Self.below(s, 0x80) { s = s.decomposedStringWithCompatibilityMapping }
            case .lowercase:
                var out = String.UnicodeScalarView()
                for u in s.unicodeScalars { out.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars) }
                s = String(out)
            case .stripAccents:
                var out = String.UnicodeScalarView()
                for u in s.unicodeScalars {
                    switch u.properties.generalCategory {
                    case .nonspacingMark, .spacingMark, .enclosingMark: continue
                    default: out.append(u)
                    }
                }
                s = String(out)
            case let .strip(left, right):
                var scalars = Substring(s).unicodeScalars[...]
                if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
                if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
                s = String(String.UnicodeScalarView(scalars))
            case .prepend(let p):
                if !s.isEmpty { s = p + s }
            case let .replace(pattern, content):
                s = pattern.apply(s, content)
            }
        }
        return s
    }
}
