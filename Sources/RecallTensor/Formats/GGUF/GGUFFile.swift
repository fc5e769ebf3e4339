import Foundation

/// One tensor's entry in a GGUF file's tensor table.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    public let type: GGMLType
    /// ggml dimensions, fastest first (`ne[0]` is the row length): the reverse of the
    /// numpy / PyTorch shape.
    public let dimensions: [Int]
    /// Offset of the data relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// The numpy / PyTorch shape (`dimensions` reversed).
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A validated, memory-mapped GGUF file (versions 2 and 3, little-endian).
///
/// Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count; the metadata
/// (key string, u32 value type, value; arrays are u32 element type + u64 count + elements, and
/// may nest); the tensor table (name, u32 dimension count, u64 dimensions, u32 ggml type,
/// u64 offset); padding to `general.alignment` (default 32); the data section.
///
/// Everything is checked when the file is opened, before any allocation sized by the file:
/// every count is capped by the bytes left (a value needs at least its minimum encoded size),
/// strings and arrays must fit, nesting is bounded, tensor dimensions must not overflow,
/// offsets must be aligned, and every tensor's bytes must lie inside the file without
/// overlapping another. A lying or truncated file gets a one-line `RecallError` naming the file
/// and the field; it never crashes.
///
/// As a `TensorSource` it hands out tensors under their GGUF names and numpy shapes: plain
/// float and integer tensors as views into the mapping (no copy), block-quantised ones
/// dequantised to F32 on request.
public final class GGUFFile: TensorSource, @unchecked Sendable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    /// Deepest array nesting we accept (llama.cpp writes at most 2).
    public static let maxNesting = 16
    /// GGML_MAX_DIMS.
    public static let maxDimensions = 4

    public let url: URL
    public let version: Int
    /// Metadata in file order.
    public let entries: [(key: String, value: GGUFValue)]
    /// Tensor table in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    private let file: MappedFile
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    public init(url: URL) throws {
        self.url = url
        let file = try MappedFile(url: url)
        self.file = file
        var r = GGUFCursor(bytes: file.bytes, path: url.path)
        let header = try r.header()
        version = header.version
        let (entries, keyIndex) = try r.metadata(count: header.metadataCount)
        let alignment = try r.alignment(entries: entries, keyIndex: keyIndex)
        let (infos, tensorIndex) = try r.tensorTable(count: header.tensorCount, alignment: alignment)
        let dataOffset = (r.position + alignment - 1) / alignment * alignment
        try r.checkTensorData(infos, dataCount: max(0, file.count - dataOffset))

        self.entries = entries
        self.keyIndex = keyIndex
        self.tensors = infos
        self.tensorIndex = tensorIndex
        self.alignment = alignment
        self.dataOffset = dataOffset
    }

    // MARK: Metadata

    public subscript(key: String) -> GGUFValue? { keyIndex[key].map { entries[$0].value } }

    /// `general.architecture`.
    public var architecture: String? { self["general.architecture"]?.stringValue }

    /// The metadata that `TensorSource` exposes: every scalar entry as text (arrays are summarised).
    public var metadata: [(String, String)] {
        entries.map { e in
            switch e.value {
            case let .array(t, items): return (e.key, "[\(items.count) x \(t.name)]")
            case let .string(s): return (e.key, s)
            default: return (e.key, e.value.jsonValue.serialized())
            }
        }
    }

    // MARK: Tensors

    public func tensorInfo(named name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The stored bytes of a tensor (blocks, for quantised types).
    public func rawBytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + info.byteCount)])
    }

    /// The dtype a tensor is handed out in: its own for plain floats and integers, else F32.
    public static func outputDType(of type: GGMLType) -> DType {
        type.floatDType ?? type.integerDType ?? .f32
    }

    public var infos: [TensorInfo] {
        tensors.map { TensorInfo(name: $0.name, dtype: Self.outputDType(of: $0.type), shape: $0.shape) }
    }

    public func tensor(named name: String) throws -> TensorView {
        guard let i = tensorIndex[name] else { throw RecallError(.notFound, "\(url.path): no tensor named \"\(name)\"") }
        return try tensor(tensors[i])
    }

    /// A tensor under its GGUF name and numpy shape: a view into the file for plain types, a
    /// new F32 buffer for quantised ones.
    public func tensor(_ info: GGUFTensorInfo) throws -> TensorView {
        if let dtype = info.type.floatDType ?? info.type.integerDType {
            return TensorView(info: TensorInfo(name: info.name, dtype: dtype, shape: info.shape), bytes: rawBytes(of: info), owner: file)
        }
        return TensorView(name: info.name, dtype: .f32, shape: info.shape, storage: try dequantize(info))
    }

    /// The tensor's values as F32 (any dequantisable type, plain floats included).
    public func dequantize(_ info: GGUFTensorInfo) throws -> TensorStorage {
        guard info.type.isDequantizable else {
            throw RecallError(.unsupported, "\(url.path): tensor \"\(info.name)\" has type \(info.type.name), which cannot be dequantised (supported: \(GGMLType.dequantizable.map(\.name).joined(separator: ", ")))")
        }
        let storage = TensorStorage(byteCount: info.elementCount * 4)
        let raw = rawBytes(of: info)
        if info.elementCount > 0 {
            GGUFDequantizer.dequantize(raw.baseAddress!, type: info.type, count: info.elementCount,
                                       into: storage.pointer.assumingMemoryBound(to: Float.self))
        }
        return storage
    }

    public var fileSize: Int { file.count }
}
