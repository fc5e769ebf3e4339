import Foundation

/// Name, element type and shape of a tensor: what a header says, without the bytes.
public struct TensorInfo: Equatable, Sendable, Codable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Number of elements (1 for a 0-d tensor, 0 when any dimension is 0).
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteSize }
}

/// A tensor whose bytes live elsewhere: in a memory-mapped file or in a `TensorStorage`.
///
/// A view never copies: `bytes` points straight into the mapping, which `owner` keeps alive.
/// Copies happen only when asked for (`toFloat32()`, `copyBytes()`), so streaming a checkpoint
/// tensor by tensor touches each page once. Views are immutable and safe to share across threads.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?

    public init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        precondition(bytes.count == info.byteCount, "byte span does not match shape x dtype for \(info.name)")
        self.info = info
        self.bytes = bytes
        self.owner = owner
    }

    /// A view over freshly owned bytes.
    public init(name: String, dtype: DType, shape: [Int], storage: TensorStorage) {
        self.init(info: TensorInfo(name: name, dtype: dtype, shape: shape), bytes: storage.bytes, owner: storage)
    }

    /// A view over a copy of `data` (for tests and small tensors).
    public init(name: String, dtype: DType, shape: [Int], copying data: some Collection<UInt8>) {
        let storage = TensorStorage(byteCount: data.count)
        _ = storage.mutableBytes.initializeMemory(as: UInt8.self, from: data)
        self.init(name: name, dtype: dtype, shape: shape, storage: storage)
    }

    /// An F32 tensor holding `values`, converted to `dtype` (F32, F16 or BF16).
    public init(name: String, shape: [Int], float32 values: [Float], as dtype: DType = .f32) {
        precondition(shape.reduce(1, *) == values.count)
        let storage = TensorStorage(byteCount: values.count * dtype.byteSize)
        values.withUnsafeBufferPointer {
            if let base = $0.baseAddress {
                FloatConversion.fromFloat32(base, to: dtype, into: storage.pointer, count: values.count)
            }
        }
        self.init(name: name, dtype: dtype, shape: shape, storage: storage)
    }

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
    public var elementCount: Int { info.elementCount }

    /// The same bytes under another name (no copy).
    public func renamed(_ newName: String) -> TensorView {
        TensorView(info: TensorInfo(name: newName, dtype: dtype, shape: shape), bytes: bytes, owner: owner)
    }

    /// When the bytes are a file mapping: gives this process's pages of them back to the kernel
    /// (`MADV_DONTNEED`; the data stays in the page cache and is faulted in again if read), so
    /// streaming through many large files does not pile up resident memory. The mapping is
    /// read-only and private, so nothing can be lost. No effect on owned storage.
    public func releaseMappedPages() {
        guard let file = owner as? MappedFile, bytes.count > 0 else { return }
        file.release(bytes)
    }

    /// When the bytes are a file mapping: gives back this process's pages of `part` (a range of
    /// `bytes`) and drops them from the page cache (`MappedFile.evict`). For input read once.
    public func evictMappedPages(_ part: UnsafeRawBufferPointer) {
        guard let file = owner as? MappedFile, part.count > 0 else { return }
        file.evict(part)
    }

    /// `releaseMappedPages` for the pages wholly inside elements `elements` (a streamed chunk);
    /// with `granule`, only for the `granule`-aligned windows wholly inside (see `MappedFile.release`).
    public func releaseMappedPages(elements: Range<Int>, granule: Int? = nil) {
        guard let file = owner as? MappedFile, !elements.isEmpty, let start = bytes.baseAddress else { return }
        let size = dtype.byteSize
        file.release(UnsafeRawBufferPointer(start: start + elements.lowerBound * size, count: elements.count * size), granule: granule)
    }

    /// Copies the values into `dst` as F32. Only for F32, F16 and BF16 tensors.
    public func copyFloat32(into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard dtype.isComputeFloat else {
            throw RecallError(.unsupported, "tensor \(name): dtype \(dtype.rawValue) is not a float type (F32, F16, BF16)")
        }
        precondition(dst.count >= elementCount)
        if elementCount > 0 {
            FloatConversion.toFloat32(bytes.baseAddress!, dtype: dtype, into: dst.baseAddress!, count: elementCount)
        }
    }

    /// The values as a new F32 array.
    public func toFloat32() throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: elementCount) { buf, n in
            try copyFloat32(into: buf)
            n = elementCount
        }
    }

    /// This tensor converted to `target` (F32, F16, BF16) in new storage; other dtypes are
    /// returned unchanged (they are carried through, never converted).
    public func converted(to target: DType) -> TensorView {
        guard dtype.isComputeFloat, target.isComputeFloat, dtype != target else { return self }
        let storage = TensorStorage(byteCount: elementCount * target.byteSize)
        if elementCount > 0 {
            FloatConversion.convert(bytes.baseAddress!, from: dtype, into: storage.pointer, to: target, count: elementCount)
        }
        return TensorView(name: name, dtype: target, shape: shape, storage: storage)
    }

    /// A copy of the raw little-endian bytes.
    public func copyBytes() -> [UInt8] { [UInt8](bytes) }
}
