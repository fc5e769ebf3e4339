/// Decoders of `tokenizers` (decode_chain semantics: each step maps a list of token strings to a
/// list; the result is joined without separator). No decoder joins tokens with a space.
enum DecoderStep: Sendable {
    case byteLevel
    case byteFallback
    case fuse
    case replace(ReplacePattern, String)
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
}

struct TokenDecoder: Sendable {
    /// nil: no decoder in the file.
    var steps: [DecoderStep]?

    func decode(_ tokens: [String]) -> String {
        guard let steps else { return tokens.joined(separator: " ") }
        var list = tokens
        for step in steps { list = Self.apply(step, list) }
        return list.joined()
    }

    static func apply(_ step: DecoderStep, _ tokens: [String]) -> [String] {
        switch step {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                if let raw = ByteLevelMap.decode(t) { bytes.append(contentsOf: raw) } else { bytes.append(contentsOf: t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]

        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out.append(contentsOf: Array(repeating: "\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                let u = Array(t.utf8)
                if u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,
                   let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out

        case .fuse:
            return [tokens.joined()]

        case let .replace(pattern, content):
            return tokens.map { pattern.apply($0, content) }

        case let .strip(content, start, stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)
                var startCut = 0
                for i in 0..<min(start, chars.count) {
                    if chars[i] == content { startCut = i + 1 } else { break }
                }
                var stopCut = chars.count
                for i in 0..<min(stop, chars.count) {
                    let index = chars.count - i - 1
                    if chars[index] == content { stopCut = index } else { break }
                }
                guard startCut < stopCut else { return "" }
                var s = String.UnicodeScalarView()
                s.append(contentsOf: chars[startCut..<stopCut])
                return String(s)
            }
        }
    }
}
