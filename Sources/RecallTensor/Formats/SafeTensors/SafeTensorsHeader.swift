import Foundation

/// The checks `SafeTensorsFile.init(url:)` makes, in file order: the length and JSON of the
/// header, each tensor entry, then the spans tiling the data buffer.
extension SafeTensorsFile {
    static func bad(_ path: String, _ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }

    /// The header length and the header's members in file order.
    static func readHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (length: Int, members: [(String, JSONValue)]) {
        func bad(_ why: String) -> RecallError { Self.bad(path, why) }
        guard bytes.count >= 8 else {
            throw bad("file is \(bytes.count) bytes, too short for a safetensors header (8-byte length + JSON); is it a safetensors file?")
        }
        let n = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= UInt64(maxHeaderLength) else {
            throw bad("header length \(n) exceeds the 100 MB limit; not a safetensors file, or a corrupt one")
        }
        let headerLength = Int(n)
        guard 8 + headerLength <= bytes.count else {
            throw bad("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes); the file is truncated, copy it again")
        }
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
        return (headerLength, members)
    }

    /// One tensor entry: a known dtype, a shape whose bytes match its span, the span inside the
    /// data buffer (`dataCount` bytes).
    static func tensorEntry(_ name: String, _ value: JSONValue, dataCount: Int, path: String) throws -> (TensorInfo, Range<Int>) {
        func bad(_ why: String) -> RecallError { Self.bad(path, why) }
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
        return (TensorInfo(name: name, dtype: dtype, shape: shape), begin..<end)
    }

    /// The spans, sorted by start, tile the buffer: no overlap, no gap, nothing after the last.
    static func checkTiling(_ entries: [(TensorInfo, Range<Int>)], dataCount: Int, path: String) throws {
        var cursor = 0
        for (info, range) in entries {
            if range.lowerBound < cursor {
                throw bad(path, "tensor \"\(info.name)\": data_offsets [\(range.lowerBound), \(range.upperBound)] overlap the previous tensor")
            }
            if range.lowerBound > cursor {
                throw bad(path, "tensor \"\(info.name)\": gap of \(range.lowerBound - cursor) bytes before data_offsets [\(range.lowerBound), \(range.upperBound)]; the buffer must be fully indexed")
            }
            cursor = range.upperBound
        }
        guard cursor == dataCount else {
            throw bad(path, "\(dataCount - cursor) bytes after the last tensor are not indexed by the header; the file is corrupt or padded")
        }
    }
}
