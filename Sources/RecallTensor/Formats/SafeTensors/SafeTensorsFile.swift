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
        let (headerLength, members) = try Self.readHeader(file.bytes, path: path)
        self.headerLength = headerLength
        let dataCount = file.bytes.count - (8 + headerLength)
        var metadata: [(String, String)] = []
        var entries: [(TensorInfo, Range<Int>)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard let meta = value.objectValue else { throw Self.bad(path, "__metadata__ is not an object of strings") }
                for (k, v) in meta {
                    guard let s = v.stringValue else { throw Self.bad(path, "__metadata__[\"\(k)\"] is not a string") }
                    metadata.append((k, s))
                }
                continue
            }
            entries.append(try Self.tensorEntry(name, value, dataCount: dataCount, path: path))
        }
        // The spans must tile the buffer: sorted by start, each begins where the last ended.
        entries.sort { ($0.1.lowerBound, $0.1.upperBound) < ($1.1.lowerBound, $1.1.upperBound) }
        try Self.checkTiling(entries, dataCount: dataCount, path: path)

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
