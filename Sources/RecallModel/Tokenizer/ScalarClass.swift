/// Character classes as the pre-tokenizer regexes of `tokenizers` see them (Oniguruma, UTF-8):
/// `\p{L}`, `\p{N}`, `\s` (U+0009-000D, U+0085 and the Z categories) and `[\r\n]`.
enum ScalarClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    static let crlf: UInt8 = 8

    private static func compute(_ v: UInt32) -> UInt8 {
        switch v {
        case 0x0A, 0x0D: return space | crlf
        case 0x09, 0x0B, 0x0C, 0x20, 0x85: return space
        default: break
        }
        guard let u = Unicode.Scalar(v) else { return 0 }
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
        case .decimalNumber, .letterNumber, .otherNumber: return number
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return space
        default: return 0
        }
    }

    /// Classes of the Basic Multilingual Plane, computed once.
    private static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? bmp[Int(v)] : compute(v)
    }

    /// `\w` of Rust's regex crate (used by `tokenizers` for added tokens' single_word):
    /// Alphabetic, marks, decimal numbers, connector punctuation, Join_Control.
    static func isRustWord(_ u: Unicode.Scalar) -> Bool {
        let p = u.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// Decoded Unicode scalars of one UTF-8 piece with their byte offsets and classes; reused across pieces.
struct ScalarBuffer {
    var scalars: [UInt32] = []
    var classes: [UInt8] = []
    /// offsets[i] = byte offset of scalar i inside the piece; offsets[count] = piece length.
    var offsets: [Int] = []

    var count: Int { scalars.count }

    mutating func load(_ p: UnsafeBufferPointer<UInt8>) {
        scalars.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var i = 0
        let n = p.count
        while i < n {
            let b0 = UInt32(p[i])
            var v: UInt32
            var len: Int
            if b0 < 0x80 {
                v = b0; len = 1
            } else if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | (UInt32(p[i + 1]) & 0x3F); len = 2
            } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | (UInt32(p[i + 1]) & 0x3F) << 6 | (UInt32(p[i + 2]) & 0x3F); len = 3
            } else {
                v = (b0 & 0x07) << 18 | (UInt32(p[i + 1]) & 0x3F) << 12 | (UInt32(p[i + 2]) & 0x3F) << 6
                    | (UInt32(p[i + 3]) & 0x3F)
                len = 4
            }
            scalars.append(v)
            classes.append(ScalarClass.of(v))
            offsets.append(i)
            i += len
        }
        offsets.append(n)
    }
}
