/// The metadata value types of the GGUF format (`gguf_type` in ggml).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The smallest number of bytes one value of this type takes in a file (for capping counts).
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string: return 8            // u64 length, possibly no bytes
        case .array: return 12            // u32 element type + u64 count
        }
    }

    /// The name llama.cpp and the `gguf` Python package use (`UINT8`, `STRING`, ...).
    public var name: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }
}

/// One metadata value of a GGUF file. Arrays keep their declared element type, so an empty
/// array still says what it would hold, and nested arrays nest.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type whose value fits in `Int`.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// Floats, and integers converted.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    public var arrayValue: [GGUFValue]? { if case let .array(_, a) = self { return a }; return nil }
    /// The element type of an array value.
    public var arrayElementType: GGUFValueType? { if case let .array(t, _) = self { return t }; return nil }

    /// An array of strings as `[String]` (nil when this is not one).
    public var stringArray: [String]? {
        guard case let .array(t, items) = self, t == .string else { return nil }
        return items.map { $0.stringValue ?? "" }
    }

    /// An array of integers as `[Int]` (nil when this is not one, or a value does not fit).
    public var intArray: [Int]? {
        guard case let .array(_, items) = self else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for v in items {
            guard let i = v.intValue else { return nil }
            out.append(i)
        }
        return out
    }

    /// The value as a JSON value (for reports and tests). UInt64 values beyond Int64 become doubles.
    public var jsonValue: JSONValue {
        switch self {
        case let .uint64(v): return Int64(exactly: v).map { .number(Double($0), integer: $0) } ?? .number(Double(v), integer: nil)
        case let .float32(v): return .number(Double(v), integer: nil)
        case let .float64(v): return .number(v, integer: nil)
        case let .bool(b): return .bool(b)
        case let .string(s): return .string(s)
        case let .array(_, items): return .array(items.map(\.jsonValue))
        default: return .int(intValue!)
        }
    }
}
