import Foundation

/// The task-vector family (mergekit's generalized task arithmetic): task arithmetic, TIES,
/// DARE-linear and DARE-TIES are one computation with different switches.
///
/// For each model: delta_i = x_i - base, optionally sparsified to `density` (by magnitude, or
/// by a seeded random drop for DARE, with an L1 rescale when `rescale`), weighted by w_i. With
/// sign consensus (TIES) only the deltas that agree with the sign of sum_i w_i delta_i count,
/// and `normalize` divides by the weights that counted; then lambda scales the sum, which is
/// added to the base.
public struct GeneralizedTaskArithmetic: MergeMethod {
    public enum Sparsification: Sendable { case none, magnitude, random }

    public let name: String
    public let needsBase = true
    public let consensus: Bool
    public let sparsification: Sparsification
    public let defaultParameters: [String: Double]
    public let defaultModelParameters: [String: Double?] = ["weight": nil, "density": 1]
    /// Without sparsification (task arithmetic, RECALL's fusion) every element is independent;
    /// TIES' sign election is per element too, but its magnitude top-k needs the whole tensor.
    public var elementwise: Bool { sparsification == .none }

    init(name: String, consensus: Bool, sparsification: Sparsification, normalize: Bool, rescale: Bool) {
        self.name = name
        self.consensus = consensus
        self.sparsification = sparsification
        defaultParameters = ["normalize": normalize ? 1 : 0, "rescale": rescale ? 1 : 0, "lambda": 1]
    }

    public static let taskArithmetic = GeneralizedTaskArithmetic(name: "task_arithmetic", consensus: false, sparsification: .none, normalize: false, rescale: false)
    public static let ties = GeneralizedTaskArithmetic(name: "ties", consensus: true, sparsification: .magnitude, normalize: true, rescale: false)
    public static let dareLinear = GeneralizedTaskArithmetic(name: "dare_linear", consensus: false, sparsification: .random, normalize: false, rescale: true)
    public static let dareTies = GeneralizedTaskArithmetic(name: "dare_ties", consensus: true, sparsification: .random, normalize: false, rescale: true)

    public func merge(_ context: TensorMergeContext, into out: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = context.base else { throw RecallError(.invalidArgument, "\(name) needs a base model") }
        let n = base.count
        if context.inputs.isEmpty { _ = out.initialize(from: base); return }
        let normalize = (context.parameters["normalize"] ?? 0) != 0
        let rescale = (context.parameters["rescale"] ?? 0) != 0
        let lambda = Float(context.parameters["lambda"] ?? 1)

        // Weighted (and sparsified) task vectors, one model per worker: each model's trimming
        // or seeded drop is independent of the others (own seed), so this is deterministic.
        let models = context.inputs.count
        var weighted = [[Float]](repeating: [], count: models)
        let weights = context.inputs.map { Float($0.parameters["weight"] ?? 0) }
        let lock = NSLock()
        var failure: Error?
        DispatchQueue.concurrentPerform(iterations: models) { i in
            let input = context.inputs[i]
            var delta = [Float](unsafeUninitializedCapacity: n) { buf, count in
                for k in 0..<n { buf[k] = input.values[k] - base[k] }
                count = n
            }
            let density = input.parameters["density"] ?? 1
            if density < 1 {
                switch sparsification {
                case .none: break
                case .magnitude:
                    do { try keepLargest(&delta, density: density, rescale: rescale, name: context.tensorName) } catch {
                        lock.lock(); failure = failure ?? error; lock.unlock()
                        return
                    }
                case .random: dropRandomly(&delta, density: density, rescale: rescale, seed: context.seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                }
            }
            let w = weights[i]
            for k in 0..<n { delta[k] *= w }
            lock.lock(); weighted[i] = delta; lock.unlock()
        }
        if let failure { throw failure }

        let total = weights.reduce(0, +)
        withBuffers(weighted) { deltas in
            Parallel.forChunks(count: n, elementBytes: 4 * (models + 2)) { start, count in
                for k in start..<(start + count) {
                    var mixed: Float = 0
                    var divisor: Float = 0
                    if consensus {
                        var sum: Float = 0
                        for d in deltas { sum += d[k] }
                        let majority: Float = sum >= 0 ? 1 : -1
                        for (i, d) in deltas.enumerated() where d[k] != 0 && (d[k] > 0 ? 1 : -1) == majority {
                            mixed += d[k]
                            divisor += weights[i]
                        }
                        if divisor == 0 { divisor = 1 }
                    } else {
                        for d in deltas { mixed += d[k] }
                        divisor = abs(total) < 1e-8 ? 1 : total
                    }
                    if normalize { mixed /= divisor }
                    if lambda != 1 { mixed *= lambda }
                    out[k] = base[k] + mixed
                }
            }
        }
    }

    /// Keeps the `density` fraction of largest-magnitude entries (exactly k = floor(density * n),
    /// ties at the threshold broken by position), zeroes the rest.
    func keepLargest(_ delta: inout [Float], density: Double, rescale: Bool, name: String) throws {
        let n = delta.count
        let k = Int(density * Double(n))
        guard k > 0 else { throw RecallError(.invalidArgument, "tensor \(name): density \(density) keeps no element") }
        let threshold = delta.withUnsafeBufferPointer { kthLargestMagnitude($0, k) }
        var above = 0
        for v in delta where abs(v) > threshold { above += 1 }
        var equalBudget = k - above
        let before = rescale ? l1(delta) : 0
        for i in 0..<n {
            let a = abs(delta[i])
            if a > threshold { continue }
            if a == threshold && equalBudget > 0 { equalBudget -= 1; continue }
            delta[i] = 0
        }
        if rescale { rescaleL1(&delta, before: before) }
    }

    /// Keeps each entry with probability `density` (seeded), zeroes the rest.
    func dropRandomly(_ delta: inout [Float], density: Double, rescale: Bool, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let before = rescale ? l1(delta) : 0
        let cut = UInt64(density * Double(UInt64.max))
        for i in delta.indices where rng.next() >= cut { delta[i] = 0 }
        if rescale { rescaleL1(&delta, before: before) }
    }

    func l1(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double(abs($1)) } }

    /// Scales the kept entries so the L1 norm matches the unsparsified one (mergekit's rescale).
    func rescaleL1(_ v: inout [Float], before: Double) {
        let after = l1(v)
        guard before >= 1e-7, after >= 1e-7 else { return }
        let s = Float(before / after)
        for i in v.indices { v[i] *= s }
    }
}

/// The k-th largest magnitude (1-based) of `values`, by a two-pass radix select on the bit
/// patterns of |x| (for non-negative floats the bit pattern orders like the value): a histogram
/// of the high 16 bits finds the bucket that holds it, a histogram of the low 16 bits within that
/// bucket the exact value. Two sequential reads and no copy of the tensor.
func kthLargestMagnitude(_ values: UnsafeBufferPointer<Float>, _ k: Int) -> Float {
    let n = values.count
    precondition(k >= 1 && k <= n, "k must be in 1...\(n)")
    let bits = UnsafeRawPointer(values.baseAddress!).assumingMemoryBound(to: UInt32.self)
    var histogram = [Int](repeating: 0, count: 1 << 16)
    return histogram.withUnsafeMutableBufferPointer { h in
        for i in 0..<n { h[Int((bits[i] & 0x7FFF_FFFF) >> 16)] += 1 }
        var remaining = k
        var high = 0x7FFF
        while remaining > h[high] { remaining -= h[high]; high -= 1 }
        h.update(repeating: 0)
        for i in 0..<n {
            let m = bits[i] & 0x7FFF_FFFF
            if Int(m >> 16) == high { h[Int(m & 0xFFFF)] += 1 }
        }
        var low = 0xFFFF
        while remaining > h[low] { remaining -= h[low]; low -= 1 }
        return Float(bitPattern: UInt32(high << 16 | low))
    }
}
