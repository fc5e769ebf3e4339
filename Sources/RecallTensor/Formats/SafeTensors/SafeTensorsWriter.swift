import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes safetensors files (and sharded sets) from tensor views, streaming.
///
/// - Tensors are laid out in a deterministic order: by element size, largest first, then by
///   name. With the header padded to a multiple of 8 this keeps every tensor aligned to its
///   element size, as the reference writer does, so the same inputs give the same bytes.
/// - The header is compact JSON, `__metadata__` first (`format: pt` plus the caller's keys,
///   sorted), padded with spaces to a multiple of 8 bytes.
/// - Float tensors may be converted on the way (`dtype`); conversion runs in blocks, so no
///   whole-model F32 copy is ever made. Non-float tensors are copied unchanged.
/// - Output goes to a temporary file in the same directory that is renamed into place, so a
///   failed write never leaves a half file under the final name.
public struct SafeTensorsWriter {
    /// Convert every F32/F16/BF16 tensor to this type; nil keeps each tensor's own type.
    public var dtype: DType?
    /// Extra `__metadata__` entries (provenance). `format` is always `pt`.
    public var metadata: [String: String]
    /// Ask for the next tensor on another thread while the current one is written, so a source
    /// that computes tensors (a merge) overlaps its work with the copy into the file. Only for
    /// sources whose `tensor` may be called from any thread; at most two tensors are held.
    public var prefetch: Bool

    public init(dtype: DType? = nil, metadata: [String: String] = [:], prefetch: Bool = false) {
        self.dtype = dtype
        self.metadata = metadata
        self.prefetch = prefetch
    }

    /// The dtype `view` will have in the output.
    public func outputType(of info: TensorInfo) -> DType {
        if let dtype, info.dtype.isComputeFloat, dtype.isComputeFloat { return dtype }
        return info.dtype
    }

    /// Deterministic on-disk order: element size descending, then name.
    public static func layoutOrder(_ infos: [TensorInfo]) -> [TensorInfo] {
        infos.sorted { a, b in
            a.dtype.byteSize != b.dtype.byteSize ? a.dtype.byteSize > b.dtype.byteSize : a.name < b.name
        }
    }

    /// Builds the padded header for `infos` (already converted types) in layout order.
    func header(for ordered: [TensorInfo]) -> [UInt8] {
        var members: [(String, JSONValue)] = []
        var meta = metadata
        meta["format"] = "pt"
        members.append(("__metadata__", .object(meta.keys.sorted().map { ($0, .string(meta[$0]!)) })))
        var offset = 0
        for info in ordered {
            let end = offset + info.byteCount
            members.append((info.name, .object([
                ("dtype", .string(info.dtype.rawValue)),
                ("shape", .array(info.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var bytes = Array(JSONValue.object(members).serialized().utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// Writes `tensors` to `url` (replacing it atomically). Names must be unique.
    public func write(_ tensors: [TensorView], to url: URL) throws {
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw RecallError(.invalidArgument, "\(url.path): tensor name \"\(t.name)\" given twice")
        }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        try write(infos: tensors.map(\.info), to: url) { byName[$0]! }
    }

    /// Writes the tensors described by `infos`, asking `tensor` for each one only when its bytes
    /// are due, so a source that rebuilds tensors on demand (the store) is streamed one tensor
    /// at a time.
    public func write(infos: [TensorInfo], to url: URL, tensor: (String) throws -> TensorView) throws {
        var seen = Set<String>()
        for i in infos where !seen.insert(i.name).inserted {
            throw RecallError(.invalidArgument, "\(url.path): tensor name \"\(i.name)\" given twice")
        }
        let converted = infos.map { TensorInfo(name: $0.name, dtype: outputType(of: $0), shape: $0.shape) }
        let ordered = Self.layoutOrder(converted)
        let header = header(for: ordered)

        let out = try AtomicFileWriter(url: url)
        do {
            var len = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &len) { try out.write($0) }
            try header.withUnsafeBytes { try out.write($0) }
            try withoutActuallyEscaping(tensor) { tensor in
                var next: Prefetched? = prefetch && !ordered.isEmpty ? Prefetched(ordered[0].name, tensor) : nil
                // Whatever happens below, no background request may outlive this call.
                defer { _ = next?.wait() }
                for (k, info) in ordered.enumerated() {
                    let view: TensorView
                    if let pending = next {
                        next = nil
                        view = try pending.wait().get()
                        if k + 1 < ordered.count { next = Prefetched(ordered[k + 1].name, tensor) }
                    } else {
                        view = try tensor(info.name)
                    }
                    guard view.shape == info.shape else {
                        throw RecallError(.mismatch, "\(url.path): tensor \"\(info.name)\" changed shape while writing")
                    }
                    try writeData(of: view, as: info.dtype, to: out)
                }
            }
            try out.commit()
        } catch {
            out.abandon()
            throw error
        }
    }

    /// Streams one tensor's bytes, converting in blocks when the type changes.
    func writeData(of view: TensorView, as target: DType, to out: AtomicFileWriter) throws {
        guard view.elementCount > 0 else { return }
        if target == view.dtype {
            try out.write(view.bytes)
            return
        }
        let block = 1 << 20
        let scratch = TensorStorage(byteCount: block * target.byteSize)
        var i = 0
        let src = view.bytes.baseAddress!
        while i < view.elementCount {
            let n = min(block, view.elementCount - i)
            FloatConversion.convert(src + i * view.dtype.byteSize, from: view.dtype, into: scratch.pointer, to: target, count: n)
            try out.write(UnsafeRawBufferPointer(start: scratch.pointer, count: n * target.byteSize))
            i += n
        }
    }

    /// Writes `tensors` into `directory` as HF does: a single `model.safetensors` when all fit
    /// in `maxShardBytes` (or no limit is given), else `model-0000i-of-0000N.safetensors` plus
    /// `model.safetensors.index.json`. Tensors are packed in name order; a tensor larger than
    /// the budget gets a shard of its own. Returns the files written.
    @discardableResult
    public func writeSharded(_ tensors: [TensorView], to directory: URL, maxShardBytes: Int?,
                             prefix: String = "model") throws -> [URL] {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return try writeSharded(infos: tensors.map(\.info), to: directory, maxShardBytes: maxShardBytes, prefix: prefix) { byName[$0]! }
    }

    /// Streaming form of `writeSharded`: tensors are requested one at a time.
    @discardableResult
    public func writeSharded(infos: [TensorInfo], to directory: URL, maxShardBytes: Int?,
                             prefix: String = "model", tensor: (String) throws -> TensorView) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sorted = infos.sorted { $0.name < $1.name }
        var groups: [[TensorInfo]] = [[]]
        var current = 0
        for t in sorted {
            let size = t.elementCount * outputType(of: t).byteSize
            if let limit = maxShardBytes, !groups[groups.count - 1].isEmpty, current + size > limit {
                groups.append([])
                current = 0
            }
            groups[groups.count - 1].append(t)
            current += size
        }
        let single = directory.appendingPathComponent("\(prefix).safetensors")
        let index = directory.appendingPathComponent("\(prefix).safetensors.index.json")
        let stale = Self.shardFiles(in: directory, prefix: prefix)
        if groups.count == 1 {
            try write(infos: groups[0], to: single, tensor: tensor)
            try? FileManager.default.removeItem(at: index)
            for f in stale { try? FileManager.default.removeItem(at: f) }
            return [single]
        }
        var written: [URL] = []
        var weightMap: [(String, JSONValue)] = []
        var total = 0
        let n = groups.count
        for (k, group) in groups.enumerated() {
            let name = String(format: "%@-%05d-of-%05d.safetensors", prefix, k + 1, n)
            let url = directory.appendingPathComponent(name)
            try write(infos: group, to: url, tensor: tensor)
            written.append(url)
            for t in group {
                weightMap.append((t.name, .string(name)))
                total += t.elementCount * outputType(of: t).byteSize
            }
        }
        weightMap.sort { $0.0 < $1.0 }
        let indexJSON = JSONValue.object([
            ("metadata", .object([("total_size", .int(total))])),
            ("weight_map", .object(weightMap)),
        ])
        try AtomicFileWriter.write(Array((indexJSON.serialized(pretty: true) + "\n").utf8), to: index)
        try? FileManager.default.removeItem(at: single)
        // Shards of an earlier, differently split write would confuse readers that glob.
        for f in stale where !written.contains(f) { try? FileManager.default.removeItem(at: f) }
        written.append(index)
        return written
    }

    /// Existing `<prefix>-NNNNN-of-NNNNN.safetensors` files in `directory`.
    static func shardFiles(in directory: URL, prefix: String) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("\(prefix)-") && $0.contains("-of-") && $0.hasSuffix(".safetensors") }
            .map { directory.appendingPathComponent($0) }
    }
}

/// Buffered writes to `<name>.tmp-<pid>` that become `<name>` only on `commit()`.
package final class AtomicFileWriter {
    let url: URL
    let tempURL: URL
    private var fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private var used = 0
    private let capacity = 8 << 20

    init(url: URL) throws {
        self.url = url
        tempURL = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        fd = open(tempURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RecallError(.io, "\(url.path): cannot create (\(String(cString: strerror(errno))))")
        }
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        if fd >= 0 { close(fd); unlink(tempURL.path) }
    }

    private func flush() throws {
        try writeAll(UnsafeRawBufferPointer(start: buffer, count: used))
        used = 0
    }

    /// Writes at most this much per call. Why: the kernel sizes a new file's page-cache folios by
    /// the write, and on this machine (Firecracker VM, kernel 6.18, ext4) the first touch of a
    /// large folio is slow: 1 GB of new file took 11.4 s in 2 MB writes, 3.3 s in 1 MB writes; in
    /// 64 KB writes 4 GB ran at 0.4 s per GB for the first 3 GB, where 256 KB writes slowed to
    /// 6-11 s per GB after the first (LMDBEnvironment.prefaultTail has the same cause).
    static let maxWrite = 64 << 10

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, min(bytes.count - off, Self.maxWrite))
            if n < 0 {
                if errno == EINTR { continue }
                throw RecallError(.io, "\(url.path): write failed (\(String(cString: strerror(errno))))")
            }
            off += n
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if bytes.count >= capacity {
            try flush()
            try writeAll(bytes)
            return
        }
        if used + bytes.count > capacity { try flush() }
        (buffer + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used += bytes.count
    }

    func commit() throws {
        try flush()
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw RecallError(.io, "\(url.path): fsync failed (\(String(cString: strerror(errno))))")
        }
        close(fd)
        fd = -1
        guard rename(tempURL.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tempURL.path)
            throw RecallError(.io, "\(url.path): cannot move the finished file into place (\(reason))")
        }
    }

    func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempURL.path)
    }

    package static func write(_ bytes: [UInt8], to url: URL) throws {
        let w = try AtomicFileWriter(url: url)
        do {
            try bytes.withUnsafeBytes { try w.write($0) }
            try w.commit()
        } catch {
            w.abandon()
            throw error
        }
    }
}

/// One tensor requested on a background thread (`SafeTensorsWriter.prefetch`).
///
/// The writer lends the source's closure with `withoutActuallyEscaping`, which checks that no
/// reference to it is left when it returns; so the worker takes the closure out of this object,
/// calls it, and lets go of it before signalling, and the dispatched block holds only `self`.
private final class Prefetched: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var work: ((String) throws -> TensorView)?
    private var result: Result<TensorView, Error>?

    init(_ name: String, _ tensor: @escaping (String) throws -> TensorView) {
        work = tensor
        DispatchQueue.global().async { [self] in
            result = run(name)
            done.signal()
        }
    }

    private func run(_ name: String) -> Result<TensorView, Error> {
        let tensor = work!
        work = nil
        return Result { try tensor(name) }
    }

    /// Blocks until the request has finished; its result (the same on every call: each wait
    /// passes the semaphore on to the next).
    func wait() -> Result<TensorView, Error> {
        done.wait()
        defer { done.signal() }
        return result!
    }
}
