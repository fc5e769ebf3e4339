/// A tensor element type of ggml (`enum ggml_type`): plain floats and integers, and the block
/// quantisations, where `blockSize` elements are stored in `typeSize` bytes.
///
/// Every id ggml has defined is known by name and size, so a file using any of them can be
/// opened and bounds-checked; only `isDequantizable` types can be turned into floats.
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q4_1 = GGMLType(rawValue: 3)
    public static let q5_0 = GGMLType(rawValue: 6)
    public static let q5_1 = GGMLType(rawValue: 7)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q8_1 = GGMLType(rawValue: 9)
    public static let q2_K = GGMLType(rawValue: 10)
    public static let q3_K = GGMLType(rawValue: 11)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let q5_K = GGMLType(rawValue: 13)
    public static let q6_K = GGMLType(rawValue: 14)
    public static let q8_K = GGMLType(rawValue: 15)
    public static let i8 = GGMLType(rawValue: 24)
    public static let i16 = GGMLType(rawValue: 25)
    public static let i32 = GGMLType(rawValue: 26)
    public static let i64 = GGMLType(rawValue: 27)
    public static let f64 = GGMLType(rawValue: 28)
    public static let bf16 = GGMLType(rawValue: 30)

    static let qkK = 256

    /// (name, elements per block, bytes per block) for every id ggml defines (gaps are ids that
    /// were removed from ggml and never appear in current files).
    static let table: [UInt32: (String, Int, Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2),
        2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
        8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
        13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
        19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
        24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
        29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
        34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
        39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    ]

    /// The types `GGUFDequantizer` turns into F32.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .f64, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Whether ggml defines this id (so its block size is known).
    public var isKnown: Bool { Self.table[rawValue] != nil }
    /// `Q4_1`, `F16`, ... or `type 99` for an id ggml does not define.
    public var name: String { Self.table[rawValue]?.0 ?? "type \(rawValue)" }
    public var description: String { name }
    /// Elements per block (1 for plain types); nil for an unknown id.
    public var blockSize: Int? { Self.table[rawValue]?.1 }
    /// Bytes per block; nil for an unknown id.
    public var typeSize: Int? { Self.table[rawValue]?.2 }
    public var isDequantizable: Bool { Self.dequantizable.contains(self) }
    /// Integer types, carried through unchanged.
    public var integerDType: DType? {
        switch self {
        case .i8: return .i8
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        default: return nil
        }
    }
    /// The safetensors float type with the same bytes (F32, F16, BF16, F64), if any.
    public var floatDType: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        default: return nil
        }
    }
}
