import Foundation

/// JSONValue inside Codable types: the free-form parts of the API's replies (a version's
/// recorded merge options, a job's result) travel as they are while everything around them is
/// typed.
///
/// Encoding writes numbers as `serialized()` does (integers as integers, integral doubles
/// below 1e15 without a fraction, non-finite ones as null). Decoding reads object keys in
/// sorted order: a Decoder does not say in which order the text had them.
extension JSONValue: Codable {
    /// Any object key.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case let .bool(b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case let .number(d, i):
            var c = encoder.singleValueContainer()
            if let i { try c.encode(i) }
            else if d.isFinite, d.rounded() == d, abs(d) < 1e15 { try c.encode(Int64(d)) }
            else if d.isFinite { try c.encode(d) }
            else { try c.encodeNil() }
        case let .string(s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case let .array(items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case let .object(members):
            var c = encoder.container(keyedBy: Key.self)
            for (key, value) in members { try c.encode(value, forKey: Key(stringValue: key)) }
        }
    }

    public init(from decoder: Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            self = .object(try object.allKeys.sorted { $0.stringValue < $1.stringValue }.map {
                ($0.stringValue, try object.decode(JSONValue.self, forKey: $0))
            })
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .number(Double(i), integer: i) }
        else if let d = try? c.decode(Double.self) { self = .number(d, integer: nil) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value") }
    }
}
