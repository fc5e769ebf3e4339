import Foundation

// Shared by the GGUF reader's bad-file tests (RecallTensorTests) and the GGUF import tests
// (RecallModelTests), which build whole hand-made Llama files with it.

/// Builds GGUF bytes by hand, for files the `gguf` package would refuse to write.
public struct GGUFBuilder {
    public var bytes: [UInt8] = []

    public init(version: UInt32 = 3, tensors: UInt64, kvs: UInt64, magic: [UInt8] = Array("GGUF".utf8)) {
        bytes = magic
        u32(version); u64(tensors); u64(kvs)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    public mutating func f32(_ v: Float) { u32(v.bitPattern) }
    public mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

    public mutating func kvString(_ key: String, _ value: String) { string(key); u32(8); string(value) }
    public mutating func kvU32(_ key: String, _ value: UInt32) { string(key); u32(4); u32(value) }
    public mutating func kvF32(_ key: String, _ value: Float) { string(key); u32(6); f32(value) }
    public mutating func kvStrings(_ key: String, _ values: [String]) {
        string(key); u32(9); u32(8); u64(UInt64(values.count))
        for v in values { string(v) }
    }
    public mutating func kvI32s(_ key: String, _ values: [Int32]) {
        string(key); u32(9); u32(5); u64(UInt64(values.count))
        for v in values { u32(UInt32(bitPattern: v)) }
    }

    public mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name); u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type); u64(offset)
    }

    public mutating func pad(to alignment: Int = 32) { while bytes.count % alignment != 0 { bytes.append(0) } }

    public func write(_ dir: URL, _ name: String = "bad.gguf") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }
}
