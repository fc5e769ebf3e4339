/// Small open-addressing hash tables used on the hot path of BPE: lookups take byte slices or
/// packed integer pairs and never allocate.

@inline(__always)
func hashBytes(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 {
    // FNV-1a, then a final avalanche (murmur3 fmix64) so the low bits are usable as a slot index.
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in p {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01B3
    }
    h ^= h >> 33
    h = h &* 0xff51_afd7_ed55_8ccd
    h ^= h >> 33
    h = h &* 0xc4ce_b9fe_1a85_ec53
    h ^= h >> 33
    return h
}

/// Byte string -> Int map. Keys are copied into one pool.
struct BytesMap {
    private var pool: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var keyHash: [UInt64] = []
    private(set) var values: [Int] = []
    private var slots: [Int32]            // entry index, -1 = empty
    private var mask: Int

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { values.count }

    @inline(__always)
    private func find(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (slot: Int, entry: Int) {
        var i = Int(truncatingIfNeeded: hash) & mask
        return pool.withUnsafeBufferPointer { pp in
            while true {
                let e = Int(slots[i])
                if e < 0 { return (i, -1) }
                if keyHash[e] == hash, Int(keyLength[e]) == key.count {
                    let start = Int(keyStart[e])
                    var same = true
                    var j = 0
                    while j < key.count {
                        if pp[start + j] != key[j] { same = false; break }
                        j += 1
                    }
                    if same { return (i, e) }
                }
                i = (i + 1) & mask
            }
        }
    }

    func get(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        let (_, e) = find(key, hash: hashBytes(key))
        return e < 0 ? nil : values[e]
    }

    func get(_ key: [UInt8]) -> Int? { key.withUnsafeBufferPointer { get($0) } }

    /// Inserts or overwrites.
    mutating func set(_ key: UnsafeBufferPointer<UInt8>, _ value: Int) {
        let h = hashBytes(key)
        let (slot, e) = find(key, hash: h)
        if e >= 0 { values[e] = value; return }
        let index = values.count
        keyStart.append(Int32(pool.count))
        keyLength.append(Int32(key.count))
        keyHash.append(h)
        pool.append(contentsOf: key)
        values.append(value)
        slots[slot] = Int32(index)
        if values.count * 2 > slots.count { grow() }
    }

    mutating func set(_ key: [UInt8], _ value: Int) { key.withUnsafeBufferPointer { set($0, value) } }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<values.count {
            var i = Int(truncatingIfNeeded: keyHash[e]) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }
}

/// (left id, right id) -> (rank, merged id) for BPE merges.
struct PairMap {
    private var keys: [UInt64]
    private var vals: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: PairMap.empty, count: size)
        vals = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    @inline(__always)
    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// Returns (rank, merged id) packed as rank << 32 | id, or nil.
    @inline(__always)
    func get(_ a: Int32, _ b: Int32) -> (rank: Int32, id: Int32)? {
        let k = PairMap.key(a, b)
        var i = PairMap.slot(k, mask)
        while true {
            let stored = keys[i]
            if stored == k {
                let v = vals[i]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v & 0xFFFF_FFFF))
            }
            if stored == PairMap.empty { return nil }
            i = (i + 1) & mask
        }
    }

    /// Inserts or overwrites (a later duplicate merge wins, as in `tokenizers`).
    mutating func set(_ a: Int32, _ b: Int32, rank: Int32, id: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        let k = PairMap.key(a, b)
        var i = PairMap.slot(k, mask)
        while keys[i] != PairMap.empty && keys[i] != k { i = (i + 1) & mask }
        if keys[i] == PairMap.empty { count += 1 }
        keys[i] = k
        vals[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: id))
    }

    private mutating func grow() {
        let oldKeys = keys, oldVals = vals
        let size = keys.count * 2
        keys = [UInt64](repeating: PairMap.empty, count: size)
        vals = [UInt64](repeating: 0, count: size)
        mask = size - 1
        for (k, v) in zip(oldKeys, oldVals) where k != PairMap.empty {
            var i = PairMap.slot(k, mask)
            while keys[i] != PairMap.empty { i = (i + 1) & mask }
            keys[i] = k
            vals[i] = v
        }
    }
}
