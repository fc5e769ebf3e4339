import Foundation

/// A validated, memory-mapped safetensors file.
///
/// Layout (the format's spec): 8 bytes little-endian header length N, N bytes of UTF-8 JSON
/// (an object of tensor name -> {dtype, shape, data_offsets}, plus an optional `__metadata__`
/// map of strings), then the data buffer, which the offsets index relative to its start.
///
/// Everything is checked before any tensor is handed out, so later code may trust a view:
/// header length within the file and at most 100 MB, UTF-8 JSON object, no duplicate names,
/// known dtypes, non-negative shapes, shape x dtype size == byte span, spans inside the buffer,
/// and spans that tile the buffer exactly (no gap, no overlap, nothing after the last one).
public final class SafeTensorsFile: TensorSource, @unchecked Sendable {
    /// Largest header we accept, as the reference implementation does.
    public static let maxHeaderLength = 100_000_000

    public let url: URL
    public let headerLength: Int
    public let metadata: [(String, String)]
    /// Tensors in file (offset) order.
    public let infos: [TensorInfo]
    /// Byte range of each tensor relative to the data buffer, in the same order as `infos`.
    public let dataOffsets: [Range<Int>]
    private let index: [String: Int]
    private let file: MappedFile

    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    public init(url: URL) throws {
        self.url = url
        let file = try MappedFile(url: url)
        self.file = file
        let path = url.path
        let bytes = file.bytes
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }

        guard bytes.count >= 8 else {
            throw bad("file is \(bytes.count) bytes, too short for a safetensors header (8-byte length + JSON); is it a safetensors file?")
        }
        let n = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= UInt64(Self.maxHeaderLength) else {
            throw bad("header length \(n) exceeds the 100 MB limit; not a safetensors file, or a corrupt one")
        }
        let headerLength = Int(n)
        guard 8 + headerLength <= bytes.count else {
            throw bad("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes); the file is truncated, copy it again")
        }
        self.headerLength = headerLength
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        guard headerLength > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw bad("header does not start with '{'; not a safetensors file")
        }
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw bad("header is not valid UTF-8")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(headerBytes, rejectDuplicateKeys: true)
        } catch let e as JSONParseError {
            if e.reason.hasPrefix("duplicate key") {
                throw bad("header names a tensor twice (\(e.reason)); tensor names must be unique")
            }
            throw bad("header is not valid JSON (\(e))")
        }
        guard let members = json.objectValue else { throw bad("header is not a JSON object") }

        let dataStart = 8 + headerLength
        let dataCount = bytes.count - dataStart
        var metadata: [(String, String)] = []
        var entries: [(TensorInfo, Range<Int>)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard let meta = value.objectValue else { throw bad("__metadata__ is not an object of strings") }
                for (k, v) in meta {
                    guard let s = v.stringValue else { throw bad("__metadata__[\"\(k)\"] is not a string") }
                    metadata.append((k, s))
                }
                continue
            }
            guard value.objectValue != nil else { throw bad("tensor \"\(name)\": entry is not an object") }
            guard let dtypeName = value["dtype"]?.stringValue else { throw bad("tensor \"\(name)\": missing string field dtype") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw bad("tensor \"\(name)\": unknown dtype \"\(dtypeName)\" (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeValues = value["shape"]?.arrayValue else { throw bad("tensor \"\(name)\": missing array field shape") }
            var shape: [Int] = []
            var elements = 1
            for d in shapeValues {
                guard let dim = d.intValue, dim >= 0 else { throw bad("tensor \"\(name)\": shape has a value that is not a non-negative integer") }
                shape.append(dim)
                let (m, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw bad("tensor \"\(name)\": shape \(shape) is too large") }
                elements = m
            }
            guard let offs = value["data_offsets"]?.arrayValue, offs.count == 2,
                  let begin = offs[0].intValue, let end = offs[1].intValue else {
                throw bad("tensor \"\(name)\": data_offsets must be [begin, end] integers")
            }
            guard begin >= 0, begin <= end else { throw bad("tensor \"\(name)\": data_offsets [\(begin), \(end)] are reversed or negative") }
            guard end <= dataCount else {
                throw bad("tensor \"\(name)\": data_offsets [\(begin), \(end)] run past the data buffer (\(dataCount) bytes); the file is truncated or lying")
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, expected == end - begin else {
                throw bad("tensor \"\(name)\": shape \(shape) x \(dtype.rawValue) needs \(expected) bytes but data_offsets span \(end - begin)")
            }
            entries.append((TensorInfo(name: name, dtype: dtype, shape: shape), begin..<end))
        }

        // The spans must tile the buffer: sorted by start, each begins where the last ended.
        entries.sort { ($0.1.lowerBound, $0.1.upperBound) < ($1.1.lowerBound, $1.1.upperBound) }
        var cursor = 0
        for (info, range) in entries {
            if range.lowerBound < cursor {
                throw bad("tensor \"\(info.name)\": data_offsets [\(range.lowerBound), \(range.upperBound)] overlap the previous tensor")
            }
            if range.lowerBound > cursor {
                throw bad("tensor \"\(info.name)\": gap of \(range.lowerBound - cursor) bytes before data_offsets [\(range.lowerBound), \(range.upperBound)]; the buffer must be fully indexed")
            }
            cursor = range.upperBound
        }
        guard cursor == dataCount else {
            throw bad("\(dataCount - cursor) bytes after the last tensor are not indexed by the header; the file is corrupt or padded")
        }

        self.metadata = metadata
        self.infos = entries.map(\.0)
        self.dataOffsets = entries.map(\.1)
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.0.name] = i }
        self.index = index
    }

    /// Offset of the data buffer in the file (8 + header length).
    public var dataStart: Int { 8 + headerLength }

    public func tensor(named name: String) throws -> TensorView {
        guard let i = index[name] else { throw RecallError(.notFound, "\(url.path): no tensor named \"\(name)\"") }
        return tensor(at: i)
    }

    public func tensor(at i: Int) -> TensorView {
        let r = dataOffsets[i]
        let span = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + r.lowerBound)..<(dataStart + r.upperBound)])
        return TensorView(info: infos[i], bytes: span, owner: file)
    }

    /// Asks the kernel to read the data buffer ahead (for a full sequential pass).
    public func prefetchAll() { file.adviseSequential(offset: dataStart, count: file.count - dataStart) }

    public var fileSize: Int { file.count }
}
