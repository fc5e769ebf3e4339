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
        let path = url.path
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }
        var r = GGUFCursor(bytes: file.bytes, path: path)

        guard file.count >= 4 else {
            throw bad("file is \(file.count) bytes, too short for a GGUF header (24 bytes); is it a GGUF file?")
        }
        let magic = [UInt8](file.bytes[0..<4])
        guard magic == Self.magic else {
            let hex = magic.map { String(format: "%02x", $0) }.joined(separator: " ")
            throw bad("not a GGUF file: magic is \(hex), expected 47 47 55 46 (\"GGUF\")")
        }
        guard file.count >= 24 else {
            throw bad("file is \(file.count) bytes, too short for a GGUF header (24 bytes); the file is truncated")
        }
        r.position = 4
        let rawVersion = try r.u32("version")
        if rawVersion != 0 && rawVersion & 0xFFFF == 0 {
            throw RecallError(.unsupported, "\(path): big-endian GGUF files are not supported; convert the model on a little-endian machine")
        }
        guard rawVersion == 2 || rawVersion == 3 else {
            if rawVersion == 1 {
                throw RecallError(.unsupported, "\(path): GGUF version 1 is not supported (only 2 and 3); re-convert the model with a current llama.cpp")
            }
            throw bad("unknown GGUF version \(rawVersion) (supported: 2, 3)")
        }
        version = Int(rawVersion)
        let tensorCount = try r.u64("tensor count")
        let kvCount = try r.u64("metadata count")

        // Each metadata entry needs at least a key length, a type and a 1-byte value; each tensor
        // entry a name length, a dimension count, a type and an offset.
        let minKV = 8 + 4 + 1
        let minTensor = 8 + 4 + 4 + 8
        guard kvCount <= UInt64(r.remaining / minKV) else {
            throw bad("metadata count \(kvCount) is impossible: only \(r.remaining) bytes follow the header (each entry needs at least \(minKV)); the file is corrupt")
        }
        guard tensorCount <= UInt64(r.remaining / minTensor) else {
            throw bad("tensor count \(tensorCount) is impossible: only \(r.remaining) bytes follow the header (each tensor entry needs at least \(minTensor)); the file is corrupt")
        }

        var entries: [(key: String, value: GGUFValue)] = []
        entries.reserveCapacity(Int(kvCount))
        var keyIndex: [String: Int] = [:]
        for i in 0..<Int(kvCount) {
            let key = try r.string("metadata entry #\(i) key")
            let typeRaw = try r.u32("metadata \"\(key)\" type")
            guard let type = GGUFValueType(rawValue: typeRaw) else {
                throw bad("metadata \"\(key)\": unknown value type \(typeRaw) (known: 0-12)")
            }
            let value = try r.value(type, field: "metadata \"\(key)\"", depth: 0)
            guard keyIndex[key] == nil else { throw bad("metadata key \"\(key)\" appears twice") }
            keyIndex[key] = entries.count
            entries.append((key, value))
        }

        var alignment = Self.defaultAlignment
        if let i = keyIndex["general.alignment"] {
            guard case let .uint32(a) = entries[i].value else {
                throw bad("general.alignment is \(entries[i].value.type.name), must be UINT32")
            }
            guard a > 0, a & (a - 1) == 0 else { throw bad("general.alignment \(a) is not a power of two") }
            alignment = Int(a)
        }

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(Int(tensorCount))
        var tensorIndex: [String: Int] = [:]
        for i in 0..<Int(tensorCount) {
            let name = try r.string("tensor #\(i) name")
            let field = "tensor \"\(name)\""
            let nDims = try r.u32("\(field) dimension count")
            guard nDims <= UInt32(Self.maxDimensions) else {
                throw bad("\(field): \(nDims) dimensions (ggml allows at most \(Self.maxDimensions)); the file is corrupt")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(nDims) {
                let v = try r.u64("\(field) dimension \(d)")
                guard v <= UInt64(Int64.max) else { throw bad("\(field): dimension \(d) = \(v) is too large") }
                let (m, overflow) = elements.multipliedReportingOverflow(by: Int(v))
                guard !overflow else { throw bad("\(field): dimensions \(dims + [Int(v)]) overflow the element count") }
                elements = m
                dims.append(Int(v))
            }
            let typeRaw = try r.u32("\(field) type")
            let type = GGMLType(rawValue: typeRaw)
            guard let blockSize = type.blockSize, let typeSize = type.typeSize else {
                throw bad("\(field): unknown ggml type id \(typeRaw); this file needs a newer reader")
            }
            let offset = try r.u64("\(field) offset")
            let rowLength = dims.first ?? 1
            guard rowLength % blockSize == 0 else {
                throw bad("\(field): row length \(rowLength) is not a multiple of the \(type.name) block size \(blockSize)")
            }
            let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
            guard !overflow else { throw bad("\(field): dimensions \(dims) are too large") }
            guard offset <= UInt64(Int.max / 2) else { throw bad("\(field): offset \(offset) is past the end of the file") }
            guard Int(offset) % alignment == 0 else {
                throw bad("\(field): offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            guard tensorIndex[name] == nil else { throw bad("tensor name \"\(name)\" appears twice") }
            tensorIndex[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, type: type, dimensions: dims, offset: Int(offset), byteCount: bytes))
        }

        let end = r.position
        let dataOffset = (end + alignment - 1) / alignment * alignment
        let dataCount = max(0, file.count - dataOffset)
        for info in infos {
            let (stop, overflow) = info.offset.addingReportingOverflow(info.byteCount)
            guard !overflow, stop <= dataCount else {
                throw bad("tensor \"\(info.name)\": data [\(info.offset), \(info.offset &+ info.byteCount)) runs past the end of the data section (\(dataCount) bytes); the file is truncated or lying")
            }
        }
        let sorted = infos.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        var cursor = 0
        for info in sorted where info.byteCount > 0 {
            guard info.offset >= cursor else {
                throw bad("tensor \"\(info.name)\": data at offset \(info.offset) overlaps the previous tensor (which ends at \(cursor))")
            }
            cursor = info.offset + info.byteCount
        }

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
