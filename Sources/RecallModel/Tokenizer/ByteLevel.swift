/// GPT-2's reversible byte <-> printable character map ("byte-level" BPE).
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
/// U+0100, U+0101, ... so that every token is a printable string (space becomes 'Ġ', U+0120;
/// newline 'Ċ', U+010A).
enum ByteLevelMap {
    /// byte -> scalar value
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + n
                n += 1
            }
        }
        return table
    }()

    /// scalar value -> byte, for scalars below `scalarToByte.count`; -1 where the scalar is not in the map.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for b in 0..<256 { table[Int(byteToScalar[b])] = Int16(b) }
        return table
    }()

    /// The byte a scalar stands for, or nil when the scalar is not part of the byte-level alphabet.
    @inline(__always)
    static func byte(for scalar: UInt32) -> UInt8? {
        guard scalar < UInt32(scalarToByte.count) else { return nil }
        let b = scalarToByte[Int(scalar)]
        return b < 0 ? nil : UInt8(b)
    }

    /// The byte-level spelling of raw bytes ("Ġhello" for " hello").
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(byteToScalar[Int(b)])!) }
        return String(s)
    }

    /// The raw bytes a byte-level token stands for, or nil if some character is outside the map.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = byte(for: s.value) else { return nil }
            out.append(b)
        }
        return out
    }
}
