import Foundation
import RecallTensor

/// The number of stored chunks and their stored bytes, kept as a running total in `meta`.
extension BlobStore {
    /// Chunks stored and their bytes, in O(1): LMDB's entry count and the running total in `meta`
    /// (status and /metrics ask on every call; walking every chunk cost 24 ms at 400 versions).
    /// A store written before the total existed is walked once, and the total kept from then on.
    public func chunkStatistics() throws -> (count: Int, storedBytes: Int) {
        if let known = try env.read({ txn in try Self.chunkBytes(in: txn).map { (try txn.count("chunks"), $0) } }) { return known }
        return try env.write { txn in
            var n = 0, bytes = 0
            try txn.forEach("chunks") { _, v in n += 1; bytes += v.count; return true }
            try txn.put("meta", Self.chunkBytesKey, Self.littleEndian(bytes))
            return (n, bytes)
        }
    }

    /// `meta` key of the stored bytes of every chunk (u64 little-endian), changed in the same write
    /// transaction as the chunks it counts, so a crash cannot leave it wrong.
    static let chunkBytesKey = Array("chunk-stored-bytes".utf8)

    static func chunkBytes(in txn: LMDBTransaction) throws -> Int? {
        try txn.withValue("meta", chunkBytesKey) { value in
            guard let value else { return nil }
            guard value.count == 8 else { throw RecallError(.io, "store: meta \"chunk-stored-bytes\" has \(value.count) bytes, not 8; verify the store (the `verify` command or POST /v1/verify) for the full list") }
            guard let total = Int(exactly: UInt64(littleEndian: value.loadUnaligned(as: UInt64.self))) else {
                throw RecallError(.io, "store: meta \"chunk-stored-bytes\" holds an impossible total; verify the store (the `verify` command or POST /v1/verify) for the full list")
            }
            return total
        }
    }

    /// Adds `delta` to the running total; a store without one yet is totalled on its first read.
    static func addChunkBytes(_ delta: Int, in txn: LMDBTransaction) throws {
        guard delta != 0, let current = try chunkBytes(in: txn) else { return }
        try txn.put("meta", chunkBytesKey, littleEndian(max(0, current + delta)))
    }

    static func littleEndian(_ n: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(n).littleEndian) { [UInt8]($0) } }
}
