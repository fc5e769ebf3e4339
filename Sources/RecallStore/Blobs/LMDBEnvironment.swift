import CLMDB
import Foundation
import RecallTensor

/// A thin, safe wrapper over one LMDB environment (the system liblmdb).
///
/// - Named databases are opened once at start (`chunks`, `manifests`, `reps`, `meta`, `grams`).
/// - `MDB_NOTLS` lets read transactions move between threads, which Swift concurrency needs.
/// - A write that hits `MDB_MAP_FULL` is retried after doubling the map size, so a growing
///   store never fails the user; that is why `write` takes a closure it may run twice (the
///   closure must not have side effects outside the transaction).
/// - LMDB allows one writer at a time across processes; `write` is additionally serialised
///   inside the process so the map can be resized safely (no transaction may be open then).
public final class LMDBEnvironment: @unchecked Sendable {
    public let path: URL
    private let env: OpaquePointer
    private var dbis: [String: MDB_dbi] = [:]
    private let resizeLock = NSLock()
    private let readers = ReadersGate()
    public private(set) var mapSize: Int

    public static let databaseNames = ["chunks", "manifests", "reps", "meta", "grams"]

    public init(path: URL, initialMapSize: Int = 1 << 30) throws {
        self.path = path
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        var e: OpaquePointer?
        try LMDBEnvironment.check(mdb_env_create(&e), "create environment", path)
        env = e!
        mapSize = initialMapSize
        do {
            try LMDBEnvironment.check(mdb_env_set_maxdbs(env, 8), "set max dbs", path)
            try LMDBEnvironment.check(mdb_env_set_maxreaders(env, 256), "set max readers", path)
            try LMDBEnvironment.check(mdb_env_set_mapsize(env, initialMapSize), "set map size", path)
            try LMDBEnvironment.check(mdb_env_open(env, path.path, UInt32(MDB_NOTLS), 0o600), "open", path)
            // A store written by a larger map remembers its size; adopt it.
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            mapSize = max(mapSize, info.me_mapsize)
            var txn: OpaquePointer?
            try LMDBEnvironment.check(mdb_txn_begin(env, nil, 0, &txn), "begin", path)
            for name in Self.databaseNames {
                var dbi = MDB_dbi()
                let rc = mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi)
                if rc != 0 { mdb_txn_abort(txn); try LMDBEnvironment.check(rc, "open database \(name)", path) }
                dbis[name] = dbi
            }
            try LMDBEnvironment.check(mdb_txn_commit(txn), "commit", path)
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    deinit { mdb_env_close(env) }

    static func check(_ rc: Int32, _ what: String, _ path: URL) throws {
        guard rc != 0 else { return }
        let message = String(cString: mdb_strerror(rc))
        // Out of room: the transaction was aborted, so the store is as before; say what to do.
        // LMDB reports a short write (a full disk mid-flush) as EIO.
        let advice = rc == ENOSPC || rc == EFBIG || rc == EDQUOT ? "; free disk space (or raise the file-size limit) and retry"
            : rc == EIO ? "; the disk may be full or failing: check free space and retry" : ""
        throw RecallError(.io, "\(path.path): LMDB \(what) failed (\(message))\(advice)")
    }

    func dbi(_ name: String) -> MDB_dbi { dbis[name]! }

    /// Runs `body` in a read-only transaction.
    public func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        readers.enter()
        defer { readers.leave() }
        let txn = try begin(flags: UInt32(MDB_RDONLY))
        defer { mdb_txn_abort(txn) }
        return try body(LMDBTransaction(env: self, txn: txn))
    }

    /// Runs `body` in a write transaction and commits it; grows the map and retries on MAP_FULL.
    /// `appending`: about how many bytes the transaction adds, when that is known and large
    /// (see `prefaultTail`).
    public func write<T>(appending: Int = 0, _ body: (LMDBTransaction) throws -> T) throws -> T {
        resizeLock.lock()
        defer { resizeLock.unlock() }
        while true {
            let txn = try begin(flags: 0)
            prefaultTail(appending)
            let result: T
            do {
                result = try body(LMDBTransaction(env: self, txn: txn))
            } catch is LMDBMapFull {
                mdb_txn_abort(txn)
                try grow()
                continue
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            // mdb_txn_commit frees the transaction whether it succeeds or fails: aborting it after
            // a failed commit frees LMDB's reused write transaction a second time, and the next
            // write crashes (found by the disk-full campaign, RELIABILITY.md).
            let rc = mdb_txn_commit(txn)
            if rc == MDB_MAP_FULL { try grow(); continue }
            try Self.check(rc, "commit", path)
            return result
        }
    }

    /// Extends the data file by `bytes` of zeros, written in 64 KB pieces, just before a commit
    /// that appends about that much. Call only while holding the write transaction: then no one
    /// else writes, and the file's end is the end of committed pages (LMDB writes whole pages),
    /// so only space LMDB has not handed out is touched; LMDB ignores a file longer than its
    /// pages. Best effort: a failure (a full disk) is left for the commit itself to report.
    ///
    /// Why: LMDB writes each large value with one big `writev`, for which the kernel (6.18, ext4
    /// large folios) allocates page-cache folios as large as the write. On this machine (a
    /// Firecracker VM that reports free memory to its host) the first touch of a large folio
    /// the host has taken back runs at ~90 MB/s; small folios come from memory the host still
    /// backs (1 GB of new file: 11.3 s in 4 MB writes, 0.55 s with a 64 KB zero pass first).
    /// A 2.9 GB init, A/B in the same minutes after the same idle: 26.1 and 31.2 s without the
    /// zero pass, 14.9 and 13.0 s with it. Elsewhere it costs one extra copy of zeros.
    private func prefaultTail(_ bytes: Int) {
        var fd: Int32 = -1
        guard bytes >= Self.prefaultMinimum, mdb_env_get_fd(env, &fd) == 0 else { return }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        var offset = Int(st.st_size)
        let end = (offset + bytes + Self.zeroPiece.count - 1) / Self.zeroPiece.count * Self.zeroPiece.count
        Self.zeroPiece.withUnsafeBytes { zeros in
            while offset < end {
                // The first piece ends on a 64 KB boundary, so the later ones are aligned.
                let n = min(zeros.count - offset % zeros.count, end - offset)
                guard pwrite(fd, zeros.baseAddress, n, off_t(offset)) == n else { return }
                offset += n
                prefaultedBytes += n
            }
        }
    }

    /// Zeros written by `prefaultTail` since this environment was opened (for tests).
    private(set) var prefaultedBytes = 0

    /// Below this, a commit's pages are few and the kernel's folios small anyway.
    static let prefaultMinimum = 1 << 20
    private static let zeroPiece = [UInt8](repeating: 0, count: 64 << 10)

    /// Begins a transaction; adopts a map grown by another process (MDB_MAP_RESIZED), which, like
    /// `grow`, needs every read transaction of this process closed: a reader steps out of the
    /// gate for it.
    private func begin(flags: UInt32) throws -> OpaquePointer {
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(env, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED {
            let reading = flags & UInt32(MDB_RDONLY) != 0
            if reading { readers.leave() }
            readers.exclusive { _ = mdb_env_set_mapsize(env, 0) }
            if reading { readers.enter() }
            rc = mdb_txn_begin(env, nil, flags, &txn)
        }
        try Self.check(rc, flags == 0 ? "begin write" : "begin read", path)
        return txn!
    }

    /// Doubles the map. LMDB requires that no transaction of this process is active.
    private func grow() throws {
        try readers.exclusive {
            let newSize = mapSize * 2
            try Self.check(mdb_env_set_mapsize(env, newSize), "grow map to \(newSize) bytes", path)
            mapSize = newSize
        }
    }

    /// Flushes to disk (used after bulk writes when the environment runs without sync).
    public func sync() throws { try Self.check(mdb_env_sync(env, 1), "sync", path) }
}

/// Thrown inside a write transaction when the map is full; `write` catches it and retries.
struct LMDBMapFull: Error {}

/// Counts open read transactions so the map is only resized when none is open, and keeps new
/// ones out until the resize is done. (Waiting for the count to reach zero is not enough: a
/// reader that began between that wait and `mdb_env_set_mapsize` read the unmapped old map and
/// crashed the daemon, MapGrowthTests.) A read closure must not start a write: the writer's
/// resize would wait for it forever.
final class ReadersGate: @unchecked Sendable {
    private let cond = NSCondition()
    private var active = 0
    private var resizing = false
    func enter() {
        cond.lock(); defer { cond.unlock() }
        while resizing { cond.wait() }
        active += 1
    }
    func leave() { cond.lock(); active -= 1; if active == 0 { cond.broadcast() }; cond.unlock() }
    /// Runs `body` with no read transaction open and none allowed to begin.
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        cond.lock()
        while resizing { cond.wait() }
        resizing = true
        while active > 0 { cond.wait() }
        cond.unlock()
        defer { cond.lock(); resizing = false; cond.broadcast(); cond.unlock() }
        return try body()
    }
}

/// An open transaction; only valid inside the closure that received it.
public struct LMDBTransaction {
    let env: LMDBEnvironment
    let txn: OpaquePointer

    /// The value stored under `key` in `db`, copied out (LMDB's pointer dies with the transaction).
    public func get(_ db: String, _ key: [UInt8]) throws -> [UInt8]? {
        try withValue(db, key) { $0.map { [UInt8]($0) } }
    }

    /// Calls `body` with the value's bytes in place (valid only during the call), or nil.
    public func withValue<T>(_ db: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        var k = key
        return try k.withUnsafeMutableBytes { kb in
            var mk = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
            var mv = MDB_val()
            let rc = mdb_get(txn, env.dbi(db), &mk, &mv)
            if rc == MDB_NOTFOUND { return try body(nil) }
            try LMDBEnvironment.check(rc, "get from \(db)", env.path)
            return try body(UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size))
        }
    }

    /// The value's bytes in place, valid until this (read-only) transaction ends, or nil: for
    /// work that spreads one transaction's values over threads (`BlobStore.rebuild`).
    public func valueForTransaction(_ db: String, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        try withValue(db, key) { $0 }
    }

    public func contains(_ db: String, _ key: [UInt8]) throws -> Bool {
        try withValue(db, key) { $0 != nil }
    }

    /// Stores `value` under `key`, replacing any old value.
    public func put(_ db: String, _ key: [UInt8], _ value: UnsafeRawBufferPointer) throws {
        var k = key
        try k.withUnsafeMutableBytes { kb in
            var mk = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
            var mv = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            let rc = mdb_put(txn, env.dbi(db), &mk, &mv, 0)
            if rc == MDB_MAP_FULL { throw LMDBMapFull() }
            try LMDBEnvironment.check(rc, "put into \(db)", env.path)
        }
    }

    public func put(_ db: String, _ key: [UInt8], _ value: [UInt8]) throws {
        try value.withUnsafeBytes { try put(db, key, $0) }
    }

    /// Deletes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ db: String, _ key: [UInt8]) throws -> Bool {
        var k = key
        return try k.withUnsafeMutableBytes { kb in
            var mk = MDB_val(mv_size: kb.count, mv_data: kb.baseAddress)
            let rc = mdb_del(txn, env.dbi(db), &mk, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBEnvironment.check(rc, "delete from \(db)", env.path)
            return true
        }
    }

    /// Visits every key (and value, in place) of `db` in key order; return false to stop.
    public func forEach(_ db: String, _ body: ([UInt8], UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBEnvironment.check(mdb_cursor_open(txn, env.dbi(db), &cursor), "open cursor on \(db)", env.path)
        defer { mdb_cursor_close(cursor) }
        var mk = MDB_val(), mv = MDB_val()
        var op = MDB_FIRST
        while true {
            let rc = mdb_cursor_get(cursor, &mk, &mv, op)
            if rc == MDB_NOTFOUND { return }
            try LMDBEnvironment.check(rc, "iterate \(db)", env.path)
            let key = [UInt8](UnsafeRawBufferPointer(start: mk.mv_data, count: mk.mv_size))
            if try !body(key, UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size)) { return }
            op = MDB_NEXT
        }
    }

    /// Number of entries in `db`.
    public func count(_ db: String) throws -> Int {
        var stat = MDB_stat()
        try LMDBEnvironment.check(mdb_stat(txn, env.dbi(db), &stat), "stat \(db)", env.path)
        return stat.ms_entries
    }
}
