import Foundation
import RecallTensor

/// One tensor of every input of a merge (the base first, when the method uses one), read chunk
/// by chunk and widened to F32 in small per-worker buffers, on every core.
///
/// An element-wise merge reads it once. Methods that need a few statistics of the whole tensor
/// first (TIES' per-model magnitude threshold, DARE's L1 rescale) make extra read-only passes in
/// `MergeMethod.survey`, so no method ever holds whole inputs in F32: memory stays at a few
/// chunks per worker, and the last pass hands each block's mapped input pages back once read.
public struct TensorChunks: @unchecked Sendable {
    /// Writes elements `start ..< start + count` of one input, as F32, to `into`.
    public typealias Reader = (_ start: Int, _ count: Int, _ into: UnsafeMutablePointer<Float>) -> Void
    /// Hands the mapped pages of elements `range` of one input back to the kernel.
    public typealias Releaser = (_ range: Range<Int>) -> Void

    public let tensorName: String
    /// Element count of the tensor (every input has it).
    public let count: Int
    public let hasBase: Bool
    public let chunkElements: Int
    let readers: [Reader]
    let releasers: [Releaser]
    /// Names of the inputs (base first) for the NaN/Inf error; nil skips the check (inputs
    /// already checked, as in-memory F32 arrays are).
    let owners: [String]?
    /// Set once a pass has read every chunk and found no NaN/Inf: the passes after it (TIES and
    /// DARE survey an input several times) skip the scan, which was a tenth of a TIES merge.
    private let scanned = ScanRecord()

    public var chunkCount: Int { (count + chunkElements - 1) / chunkElements }
    /// Consecutive chunks a worker takes at a time; their pages are released together, so a
    /// streamed pass makes one `madvise` (and one TLB shootdown) per input per block: up to 64
    /// chunks (4M elements: 8 MiB of a BF16 input), fewer when a tensor has too few to keep
    /// every worker busy. Blocks that large contain whole 2 MiB windows (see `releaseGranule`).
    public var blockChunks: Int { max(1, min(64, (chunkCount + Parallel.threadCount - 1) / Parallel.threadCount)) }
    /// Streamed passes give pages back only in whole, 2 MiB-aligned windows: the page cache maps
    /// large folios with huge page-table entries (do_set_pmd), and dropping part of one splits
    /// it under a lock (`__split_huge_pmd`), which cost more than the merge arithmetic. The
    /// window edges a block shares with its neighbours go when the tensor is done.
    static let releaseGranule = 2 << 20
    /// Survey passes keep the pages they read for the next pass unless the tensor's inputs
    /// together map more than this (an embedding matrix of six models is 340 MB): then every
    /// pass releases them, and the next faults them in again (huge mappings: cheap).
    static let surveyResidencyBudget = 64 << 20
    let mappedBytes: Int
    public var workerCount: Int { max(1, min(Parallel.threadCount, (chunkCount + blockChunks - 1) / blockChunks)) }

    /// Chunks of mapped (or owned) tensors of any float dtype; `owners` name them in errors.
    public init(tensorName: String, views: [TensorView], owners: [String], hasBase: Bool, chunkElements: Int) {
        precondition(views.count == owners.count && !views.isEmpty)
        self.tensorName = tensorName
        count = views[0].elementCount
        self.hasBase = hasBase
        self.chunkElements = chunkElements
        self.owners = owners
        readers = views.map { view in
            { start, n, into in FloatConversion.toFloat32(view.bytes.baseAddress! + start * view.dtype.byteSize, dtype: view.dtype, into: into, count: n) }
        }
        releasers = views.map { view in { view.releaseMappedPages(elements: $0, granule: Self.releaseGranule) } }
        mappedBytes = views.reduce(0) { $0 + $1.bytes.count }
    }

    /// Chunks of F32 arrays already in memory (and already checked for NaN/Inf).
    public init(tensorName: String, base: UnsafeBufferPointer<Float>?, inputs: [UnsafeBufferPointer<Float>], chunkElements: Int) {
        self.tensorName = tensorName
        let all = (base.map { [$0] } ?? []) + inputs
        precondition(!all.isEmpty)
        count = all[0].count
        hasBase = base != nil
        self.chunkElements = chunkElements
        owners = nil
        readers = all.map { buffer in
            { start, n, into in into.update(from: buffer.baseAddress! + start, count: n) }
        }
        releasers = []
        mappedBytes = 0
    }

    /// One chunk as a merge method sees it.
    public struct Chunk {
        /// Which worker runs it (`0 ..< workerCount`): an index for per-thread state.
        public let worker: Int
        /// Its index (`0 ..< chunkCount`): an index for per-chunk results.
        public let index: Int
        /// Index within the tensor of its first element.
        public let start: Int
        public let base: UnsafeBufferPointer<Float>?
        public let inputs: [UnsafeBufferPointer<Float>]
        /// Scratch of the chunk's length, this worker's own.
        public let scratch: UnsafeMutableBufferPointer<Float>
    }

    /// Calls `body` once for every chunk, spread over `workerCount` threads (worker w takes
    /// blocks w, w + workerCount, ... of `blockChunks` consecutive chunks). The first NaN/Inf
    /// (by input, then element) or the first error thrown by `body` is thrown after the pass.
    /// `survey`: more passes over these inputs follow. The last pass gives each block's mapped
    /// pages back once it is done; survey passes keep them (faulting them in again for every
    /// pass, and the TLB shootdowns of giving them back, cost more than the one tensor's worth
    /// of pages they hold) unless the tensor is larger than `surveyResidencyBudget`.
    public func forEach(survey: Bool = false, _ body: (Chunk) throws -> Void) throws {
        let releasing = !survey || mappedBytes > Self.surveyResidencyBudget
        let scanning = owners != nil && !scanned.clean
        let chunk = chunkElements, chunks = chunkCount, workers = workerCount
        let lock = NSLock()
        var firstBad: (input: Int, element: Int, value: Float)?
        var failure: Error?
        let perBlock = blockChunks, blocks = (chunks + perBlock - 1) / perBlock
        // Shared state (firstBad, failure) is touched only under the lock.
        Parallel.forEach(count: workers) { worker in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk * (readers.count + 1))
            defer { buffer.deallocate() }
            var block = worker
            while block < blocks {
                let first = block * perBlock, last = min(first + perBlock, chunks)
                for c in first ..< last {
                    let start = c * chunk, n = min(chunk, count - start)
                    var clean = true
                    for (j, read) in readers.enumerated() {
                        let slice = buffer + j * chunk
                        read(start, n, slice)
                        if scanning, let bad = firstNonFiniteIndex(UnsafeRawBufferPointer(start: slice, count: n * 4), dtype: .f32) {
                            lock.lock()
                            if firstBad.map({ ($0.input, $0.element) > (j, start + bad) }) ?? true { firstBad = (j, start + bad, slice[bad]) }
                            lock.unlock()
                            clean = false
                        }
                    }
                    guard clean else { continue }
                    let slices = (0..<readers.count).map { UnsafeBufferPointer(start: buffer + $0 * chunk, count: n) }
                    do {
                        try body(Chunk(worker: worker, index: c, start: start, base: hasBase ? slices[0] : nil,
                                       inputs: Array(slices.dropFirst(hasBase ? 1 : 0)),
                                       scratch: UnsafeMutableBufferPointer(start: buffer + readers.count * chunk, count: n)))
                    } catch {
                        lock.lock(); failure = failure ?? error; lock.unlock()
                        return
                    }
                }
                if releasing { for release in releasers { release(first * chunk ..< min(last * chunk, count)) } }
                block += workers
            }
        }
        if let bad = firstBad, let owners {
            throw RecallError(.invalidFile, "model \(owners[bad.input]): tensor \(tensorName) holds \(bad.value) at element \(bad.element); refusing to merge non-finite weights")
        }
        if let failure { throw failure }
        if scanning { scanned.clean = true }   // every chunk was read and none held one
    }

    /// Whether a complete pass found every input finite; written only after a pass's workers
    /// have all returned, read when the next pass starts.
    private final class ScanRecord: @unchecked Sendable {
        var clean = false
    }
}
