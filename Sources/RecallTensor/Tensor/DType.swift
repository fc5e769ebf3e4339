/// Element types of a tensor, spelled as the safetensors header spells them.
///
/// F32, F16 and BF16 are the float types the engine computes with (converted to F32);
/// every other type is carried through byte for byte.
public enum DType: String, CaseIterable, Sendable, Codable {
    case f64 = "F64"
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f8e4m3 = "F8_E4M3"
    case f8e5m2 = "F8_E5M2"
    case i64 = "I64"
    case i32 = "I32"
    case i16 = "I16"
    case i8 = "I8"
    case u64 = "U64"
    case u32 = "U32"
    case u16 = "U16"
    case u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
        }
    }

    /// The float types we read into F32 for computation.
    public var isComputeFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Parses a user-facing spelling such as `bf16`, `BF16`, `float32` or `half`.
    public init?(userSpelling s: String) {
        switch s.lowercased() {
        case "f32", "float32", "float", "fp32": self = .f32
        case "f16", "float16", "half", "fp16": self = .f16
        case "bf16", "bfloat16": self = .bf16
        case "f64", "float64", "double": self = .f64
        default:
            guard let d = DType(rawValue: s.uppercased()) else { return nil }
            self = d
        }
    }

    /// The name transformers uses for `torch_dtype` / `dtype` in config.json.
    public var torchName: String? {
        switch self {
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .f64: return "float64"
        default: return nil
        }
    }
}
