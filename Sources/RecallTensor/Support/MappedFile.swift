import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory mapping of a whole file.
///
/// The mapping lives as long as this object; `TensorView`s cut from it hold a reference, so a
/// view never outlives the bytes it points to. Pages are loaded lazily by the kernel, so
/// opening a multi-gigabyte checkpoint costs nothing until tensors are read.
public final class MappedFile: @unchecked Sendable {
    public let url: URL
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(url: URL) throws {
        self.url = url
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw RecallError(errno == ENOENT ? .notFound : .io, "\(url.path): cannot open (\(reason))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw RecallError(.io, "\(url.path): cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw RecallError(.invalidFile, "\(url.path): not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw RecallError(.io, "\(url.path): cannot map \(size) bytes (\(String(cString: strerror(errno))))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    public var count: Int { bytes.count }

    /// Tells the kernel we will read the range soon and in order.
    public func adviseSequential(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        _ = madvise(base + start, count + (offset - start), MADV_WILLNEED)
    }

    /// Drops this process's pages wholly inside `range` (a part of `bytes`); see
    /// `TensorView.releaseMappedPages`. Pages shared with neighbouring bytes are kept; with
    /// `granule` (a power of two, a multiple of the page size), whole `granule`-aligned windows
    /// of the file only, so no huge mapping is split.
    public func release(_ range: UnsafeRawBufferPointer, granule: Int? = nil) {
        guard let base, let start = range.baseAddress, range.count > 0 else { return }
        let offset = start - UnsafeRawPointer(base)
        guard offset >= 0, offset + range.count <= bytes.count,
              let window = Self.releasable(offset: offset, count: range.count, granule: granule ?? Int(sysconf(Int32(_SC_PAGESIZE))))
        else { return }
        _ = madvise(base + window.lowerBound, window.count, MADV_DONTNEED)
    }

    /// `release`, then asks the kernel to drop the file's cached pages in the range too
    /// (`POSIX_FADV_DONTNEED`; clean pages no one else maps are freed, the data stays on disk).
    /// For bytes read once and done with, such as a checkpoint being stored: at 7B its pages are
    /// half the machine's memory, and freed pages are the ones the store's new pages reuse first.
    public func evict(_ range: UnsafeRawBufferPointer) {
        guard let base, let start = range.baseAddress, range.count > 0 else { return }
        release(range)
        let offset = start - UnsafeRawPointer(base)
        guard offset >= 0, offset + range.count <= bytes.count else { return }
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, off_t(offset), off_t(range.count), POSIX_FADV_DONTNEED)
        close(fd)
    }

    /// The `granule`-aligned byte range wholly inside `offset ..< offset + count`, if any.
    static func releasable(offset: Int, count: Int, granule: Int) -> Range<Int>? {
        let lo = (offset + granule - 1) & ~(granule - 1)
        let hi = (offset + count) & ~(granule - 1)
        return hi > lo ? lo ..< hi : nil
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}

/// Owned, 64-byte aligned bytes for tensors made in memory (conversions, merges, tests).
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int
    /// The buffer's real size (`BufferCache` may hand out a larger one).
    private let capacity: Int

    /// Uninitialised bytes: large buffers come from `BufferCache.shared`, so they may hold an
    /// earlier tensor's bytes; every caller writes all `byteCount` before reading.
    public init(byteCount: Int) {
        count = byteCount
        // Not on transparent huge pages any more (d130eec put large buffers there). On this
        // machine (a Firecracker VM that reports free memory to its host) the first touch of a
        // huge page that the host has taken back runs at ~90-170 MB/s, against ~1.1 GB/s for 4 KiB
        // pages (2 GB, C memset); huge pages win only when just freed (6.3 GB/s). A 2.9 GB export
        // spent 44% of its time zeroing huge pages: 29.8 -> 22.4 s and 18.1 -> 13.9 s without them
        // (A/B in the same minutes). Widening SmolLM2 to F32 stays at torch's speed (0.22 s vs 0.23 s).
        (pointer, capacity) = BufferCache.shared.take(byteCount)
    }

    public convenience init(copying src: UnsafeRawBufferPointer) {
        self.init(byteCount: src.count)
        if src.count > 0 { pointer.copyMemory(from: src.baseAddress!, byteCount: src.count) }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
    public var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: count) }

    deinit { BufferCache.shared.recycle(pointer, capacity: capacity) }
}
