import Foundation

/// The three parts of a GGUF header, read and checked in file order by `GGUFFile.init(url:)`:
/// the fixed header, the metadata, the tensor table; then the tensors' data ranges.
extension GGUFCursor {
    func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(path): \(why)") }

    /// Magic, version and the two counts, each count capped by the bytes that follow.
    mutating func header() throws -> (version: Int, tensorCount: Int, metadataCount: Int) {
        guard bytes.count >= 4 else {
            throw bad("file is \(bytes.count) bytes, too short for a GGUF header (24 bytes); is it a GGUF file?")
        }
        let magic = [UInt8](bytes[0..<4])
        guard magic == GGUFFile.magic else {
            let hex = magic.map { String(format: "%02x", $0) }.joined(separator: " ")
            throw bad("not a GGUF file: magic is \(hex), expected 47 47 55 46 (\"GGUF\")")
        }
        guard bytes.count >= 24 else {
            throw bad("file is \(bytes.count) bytes, too short for a GGUF header (24 bytes); the file is truncated")
        }
        position = 4
        let rawVersion = try u32("version")
        if rawVersion != 0 && rawVersion & 0xFFFF == 0 {
            throw RecallError(.unsupported, "\(path): big-endian GGUF files are not supported; convert the model on a little-endian machine")
        }
        guard rawVersion == 2 || rawVersion == 3 else {
            if rawVersion == 1 {
                throw RecallError(.unsupported, "\(path): GGUF version 1 is not supported (only 2 and 3); re-convert the model with a current llama.cpp")
            }
            throw bad("unknown GGUF version \(rawVersion) (supported: 2, 3)")
        }
        let tensorCount = try u64("tensor count")
        let kvCount = try u64("metadata count")

        // Each metadata entry needs at least a key length, a type and a 1-byte value; each tensor
        // entry a name length, a dimension count, a type and an offset.
        let minKV = 8 + 4 + 1
        let minTensor = 8 + 4 + 4 + 8
        guard kvCount <= UInt64(remaining / minKV) else {
            throw bad("metadata count \(kvCount) is impossible: only \(remaining) bytes follow the header (each entry needs at least \(minKV)); the file is corrupt")
        }
        guard tensorCount <= UInt64(remaining / minTensor) else {
            throw bad("tensor count \(tensorCount) is impossible: only \(remaining) bytes follow the header (each tensor entry needs at least \(minTensor)); the file is corrupt")
        }
        return (Int(rawVersion), Int(tensorCount), Int(kvCount))
    }

    /// The metadata entries in file order, and each key's index; a key may appear once.
    mutating func metadata(count: Int) throws -> (entries: [(key: String, value: GGUFValue)], keyIndex: [String: Int]) {
        var entries: [(key: String, value: GGUFValue)] = []
        entries.reserveCapacity(count)
        var keyIndex: [String: Int] = [:]
        for i in 0..<count {
            let key = try string("metadata entry #\(i) key")
            let typeRaw = try u32("metadata \"\(key)\" type")
            guard let type = GGUFValueType(rawValue: typeRaw) else {
                throw bad("metadata \"\(key)\": unknown value type \(typeRaw) (known: 0-12)")
            }
            let value = try self.value(type, field: "metadata \"\(key)\"", depth: 0)
            guard keyIndex[key] == nil else { throw bad("metadata key \"\(key)\" appears twice") }
            keyIndex[key] = entries.count
            entries.append((key, value))
        }
        return (entries, keyIndex)
    }

    /// `general.alignment` (a UINT32 power of two), or the default.
    func alignment(entries: [(key: String, value: GGUFValue)], keyIndex: [String: Int]) throws -> Int {
        guard let i = keyIndex["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case let .uint32(a) = entries[i].value else {
            throw bad("general.alignment is \(entries[i].value.type.name), must be UINT32")
        }
        guard a > 0, a & (a - 1) == 0 else { throw bad("general.alignment \(a) is not a power of two") }
        return Int(a)
    }

    /// The tensor table in file order, and each name's index; a name may appear once.
    mutating func tensorTable(count: Int, alignment: Int) throws -> (infos: [GGUFTensorInfo], tensorIndex: [String: Int]) {
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(count)
        var tensorIndex: [String: Int] = [:]
        for i in 0..<count {
            let name = try string("tensor #\(i) name")
            let info = try tensorInfo(named: name, alignment: alignment)
            guard tensorIndex[name] == nil else { throw bad("tensor name \"\(name)\" appears twice") }
            tensorIndex[name] = infos.count
            infos.append(info)
        }
        return (infos, tensorIndex)
    }

    /// One tensor entry after its name: dimensions, ggml type and offset.
    mutating func tensorInfo(named name: String, alignment: Int) throws -> GGUFTensorInfo {
        let field = "tensor \"\(name)\""
        let nDims = try u32("\(field) dimension count")
        guard nDims <= UInt32(GGUFFile.maxDimensions) else {
            throw bad("\(field): \(nDims) dimensions (ggml allows at most \(GGUFFile.maxDimensions)); the file is corrupt")
        }
        var dims: [Int] = []
        var elements = 1
        for d in 0..<Int(nDims) {
            let v = try u64("\(field) dimension \(d)")
            guard v <= UInt64(Int64.max) else { throw bad("\(field): dimension \(d) = \(v) is too large") }
            let (m, overflow) = elements.multipliedReportingOverflow(by: Int(v))
            guard !overflow else { throw bad("\(field): dimensions \(dims + [Int(v)]) overflow the element count") }
            elements = m
            dims.append(Int(v))
        }
        let typeRaw = try u32("\(field) type")
        let type = GGMLType(rawValue: typeRaw)
        guard let blockSize = type.blockSize, let typeSize = type.typeSize else {
            throw bad("\(field): unknown ggml type id \(typeRaw); this file needs a newer reader")
        }
        let offset = try u64("\(field) offset")
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
        return GGUFTensorInfo(name: name, type: type, dimensions: dims, offset: Int(offset), byteCount: bytes)
    }

    /// Every tensor's bytes lie inside the data section (`dataCount` bytes) and no two overlap.
    func checkTensorData(_ infos: [GGUFTensorInfo], dataCount: Int) throws {
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
    }
}
