import Foundation

/// Bounds-checked little-endian reads over the mapped header.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    var remaining: Int { bytes.count - position }

    func truncated(_ field: String, need: Int) -> RecallError {
        RecallError(.invalidFile, "\(path): \(field) needs \(need) bytes at offset \(position) but the file ends at \(bytes.count); the file is truncated or corrupt")
    }

    mutating func take<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw truncated(field, need: n) }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += n
        return v
    }

    mutating func u32(_ field: String) throws -> UInt32 { try take(UInt32.self, field) }
    mutating func u64(_ field: String) throws -> UInt64 { try take(UInt64.self, field) }

    mutating func string(_ field: String) throws -> String {
        let n = try u64("\(field) length")
        guard n <= UInt64(remaining) else {
            throw RecallError(.invalidFile, "\(path): \(field) claims \(n) bytes but only \(remaining) remain at offset \(position); the file is truncated or corrupt")
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(n))]), as: UTF8.self)
        position += Int(n)
        return s
    }

    mutating func value(_ type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try take(UInt8.self, field))
        case .int8: return .int8(try take(Int8.self, field))
        case .uint16: return .uint16(try take(UInt16.self, field))
        case .int16: return .int16(try take(Int16.self, field))
        case .uint32: return .uint32(try take(UInt32.self, field))
        case .int32: return .int32(try take(Int32.self, field))
        case .uint64: return .uint64(try take(UInt64.self, field))
        case .int64: return .int64(try take(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try take(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try take(UInt64.self, field)))
        case .bool:
            let b = try take(UInt8.self, field)
            guard b <= 1 else { throw RecallError(.invalidFile, "\(path): \(field): bool byte is \(b), must be 0 or 1") }
            return .bool(b == 1)
        case .string: return .string(try string(field))
        case .array:
            guard depth < GGUFFile.maxNesting else {
                throw RecallError(.invalidFile, "\(path): \(field): arrays nested more than \(GGUFFile.maxNesting) deep; the file is corrupt")
            }
            let raw = try u32("\(field) element type")
            guard let element = GGUFValueType(rawValue: raw) else {
                throw RecallError(.invalidFile, "\(path): \(field): unknown array element type \(raw) (known: 0-12)")
            }
            let count = try u64("\(field) element count")
            let cap = remaining / element.minimumEncodedSize
            guard count <= UInt64(cap) else {
                throw RecallError(.invalidFile, "\(path): \(field): array of \(count) \(element.name) values cannot fit in the \(remaining) bytes left; the file is truncated or corrupt")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                items.append(try value(element, field: field, depth: depth + 1))
            }
            return .array(element, items)
        }
    }
}
