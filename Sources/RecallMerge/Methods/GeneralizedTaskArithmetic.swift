import Foundation
import RecallTensor

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
    /// Every variant merges chunk by chunk: sign election and the weighted sum are per element,
    /// and what trimming needs of the whole tensor (each model's magnitude threshold, the L1
    /// rescale) `survey` finds first, in read-only passes.
    public var elementwise: Bool { true }

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
        if context.inputs.isEmpty { _ = out.initialize(from: base); return }
        let trims: [Trim]
        if let survey = context.survey {
            trims = survey as! [Trim]
        } else {
            // A whole tensor given directly: survey it and merge it chunk by chunk like the engine does.
            let chunks = TensorChunks(tensorName: context.tensorName, base: base, inputs: context.inputs.map(\.values),
                                      chunkElements: MergedCheckpoint.chunkElements)
            let survey = try self.survey(chunks, models: context.inputs.map(\.parameters), parameters: context.parameters, seed: context.seed)
            try chunks.forEach { chunk in
                let inputs = zip(chunk.inputs, context.inputs).map { MergeInput(values: $0, parameters: $1.parameters) }
                try merge(TensorMergeContext(tensorName: context.tensorName, base: chunk.base, inputs: inputs, parameters: context.parameters,
                                             seed: context.seed, offset: chunk.start, chunk: chunk.index, survey: survey),
                          into: UnsafeMutableBufferPointer(rebasing: out[chunk.start ..< chunk.start + chunk.scratch.count]))
            }
            return
        }
        mergeChunk(context, base: base, trims: trims, into: out)
    }

    // MARK: Merging a chunk

    /// How one model's task vector is trimmed, from the survey of the whole tensor.
    struct Trim: Sendable {
        enum Rule: Sendable {
            case keepAll
            /// Keep |delta| > threshold, and the first `tieBudget` deltas (by position) with
            /// |delta| == threshold; `tiesBefore[chunk]` counts those before each chunk (one more
            /// entry: all of them) when only some ties are kept (nil: all ties are kept).
            case magnitude(threshold: Float, tieBudget: Int, tiesBefore: [Int]?)
            /// Keep each delta when the seeded generator's draw for its position is below cut.
            case random(seed: UInt64, cut: UInt64)
        }
        var rule: Rule
        /// The L1 rescale factor applied to kept deltas (1 without rescale).
        var scale: Float
        var weight: Float
    }

    /// The merge of one chunk: weighted trimmed task vectors, elected by sign when `consensus`,
    /// summed, normalised, scaled by lambda and added to the base. Model-major loops over the
    /// chunk keep every step vectorisable.
    func mergeChunk(_ context: TensorMergeContext, base: UnsafeBufferPointer<Float>, trims: [Trim], into out: UnsafeMutableBufferPointer<Float>) {
        let n = base.count
        let models = context.inputs.count
        let normalize = (context.parameters["normalize"] ?? 0) != 0
        let lambda = Float(context.parameters["lambda"] ?? 1)
        let deltas = UnsafeMutablePointer<Float>.allocate(capacity: n * models)
        defer { deltas.deallocate() }
        for (i, input) in context.inputs.enumerated() {
            trimmedDelta(input.values, base: base, trim: trims[i], offset: context.offset, chunk: context.chunk, into: deltas + i * n)
        }
        let total = trims.reduce(Float(0)) { $0 + $1.weight }
        if consensus {
            // `out` accumulates the elected deltas and `divisor` the weights that counted; the
            // sign is the plain sum's, as mergekit elects by sum.
            let sum = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)
            defer { sum.deallocate() }
            let divisor = sum + n
            sum.update(repeating: 0, count: n)
            for i in 0..<models { let d = deltas + i * n; for k in 0..<n { sum[k] += d[k] } }
            out.update(repeating: 0)
            divisor.update(repeating: 0, count: n)
            for i in 0..<models {
                let d = deltas + i * n, w = trims[i].weight
                for k in 0..<n {
                    // mergekit's election: d counts when nonzero and its sign (d > 0 ? + : -)
                    // is the sum's; written so a NaN delta counts as negative, as it always has.
                    let agrees = sum[k] >= 0 ? d[k] > 0 : (d[k] != 0 && !(d[k] > 0))
                    out[k] += agrees ? d[k] : 0
                    divisor[k] += agrees ? w : 0
                }
            }
            for k in 0..<n {
                var mixed = out[k]
                if normalize { mixed /= divisor[k] == 0 ? 1 : divisor[k] }
                if lambda != 1 { mixed *= lambda }
                // A zero update keeps the base's bits (base + 0 would turn -0.0 into +0.0), so an
                // unchanged tensor merges to exactly its stored bytes (StoredTensorReuse relies on it).
                out[k] = mixed == 0 ? base[k] : base[k] + mixed
            }
        } else {
            out.update(repeating: 0)
            for i in 0..<models { let d = deltas + i * n; for k in 0..<n { out[k] += d[k] } }
            let divisor = abs(total) < 1e-8 ? 1 : total
            for k in 0..<n {
                var mixed = out[k]
                if normalize { mixed /= divisor }
                if lambda != 1 { mixed *= lambda }
                // A zero update keeps the base's bits (base + 0 would turn -0.0 into +0.0), so an
                // unchanged tensor merges to exactly its stored bytes (StoredTensorReuse relies on it).
                out[k] = mixed == 0 ? base[k] : base[k] + mixed
            }
        }
    }

    /// One model's weighted, trimmed task vector over a chunk: ((x - base) kept) * scale * weight.
    func trimmedDelta(_ x: UnsafeBufferPointer<Float>, base: UnsafeBufferPointer<Float>, trim: Trim, offset: Int, chunk: Int,
                      into d: UnsafeMutablePointer<Float>) {
        let n = base.count
        for k in 0..<n { d[k] = x[k] - base[k] }
        switch trim.rule {
        case .keepAll: break
        case let .magnitude(threshold, tieBudget, tiesBefore):
            if let tiesBefore, tiesBefore[chunk] >= tieBudget {
                for k in 0..<n { d[k] = abs(d[k]) > threshold ? d[k] : 0 }  // the kept ties came earlier
            } else if let tiesBefore, tiesBefore[chunk + 1] > tieBudget {
                // The chunk where the kept ties run out: count them by position.
                var rank = tiesBefore[chunk]
                for k in 0..<n {
                    let a = abs(d[k])
                    if a > threshold { continue }
                    if a == threshold { rank += 1; if rank <= tieBudget { continue } }
                    d[k] = 0
                }
            } else {
                for k in 0..<n { d[k] = abs(d[k]) >= threshold ? d[k] : 0 }
            }
        case let .random(seed, cut):
            var rng = SplitMix.positioned(seed: seed, at: offset)
            for k in 0..<n where rng.next() >= cut { d[k] = 0 }
        }
        if trim.scale != 1 { for k in 0..<n { d[k] *= trim.scale } }
        let w = trim.weight
        for k in 0..<n { d[k] *= w }
    }

    // MARK: Surveying the whole tensor

    public func survey(_ chunks: TensorChunks, models: [[String: Double]], parameters: [String: Double], seed: UInt64) throws -> (any Sendable)? {
        let n = chunks.count
        let rescale = (parameters["rescale"] ?? 0) != 0
        var trims = try models.enumerated().map { i, p -> Trim in
            let density = self.density(p)
            var rule = Trim.Rule.keepAll
            if density < 1 && n > 0 {  // an empty tensor has nothing to trim
                switch sparsification {
                case .none: break
                case .magnitude:
                    guard Int(density * Double(n)) > 0 else {
                        throw RecallError(.invalidArgument, "tensor \(chunks.tensorName): density \(density) keeps no element")
                    }
                    rule = .magnitude(threshold: 0, tieBudget: 0, tiesBefore: nil)  // found by MagnitudeSurvey below
                case .random:
                    rule = .random(seed: seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15, cut: UInt64(density * Double(UInt64.max)))
                }
            }
            return Trim(rule: rule, scale: 1, weight: Float(p["weight"] ?? 0))
        }
        let trimmed = trims.indices.filter { if case .keepAll = trims[$0].rule { return false } else { return true } }
        if trimmed.isEmpty { return trims }
        let magnitude = trimmed.filter { if case .magnitude = trims[$0].rule { return true } else { return false } }
        var l1Before = [Double](repeating: 0, count: models.count), l1After = l1Before
        if !magnitude.isEmpty {
            let keep = magnitude.map { Int(density(models[$0]) * Double(n)) }
            let survey = try MagnitudeSurvey(chunks, models: magnitude, keep: keep, measureL1: rescale)
            for (j, i) in magnitude.enumerated() {
                trims[i].rule = survey.rules[j]
                l1Before[i] = survey.l1Before[j]
                l1After[i] = survey.l1After[j]
            }
        }
        let random = trimmed.filter { if case .random = trims[$0].rule { return true } else { return false } }
        if rescale && !random.isEmpty {
            // L1 of each model's task vector before and after its seeded drop, per chunk, summed in order.
            var perChunk = [Double](repeating: 0, count: chunks.chunkCount * random.count * 2)
            try perChunk.withUnsafeMutableBufferPointer { sums in
                try chunks.forEach(survey: true) { chunk in
                    for (j, i) in random.enumerated() {
                        guard case let .random(seed, cut) = trims[i].rule else { continue }
                        var rng = SplitMix.positioned(seed: seed, at: chunk.start)
                        let x = chunk.inputs[i], b = chunk.base!
                        var before = 0.0, after = 0.0
                        for k in 0..<b.count {
                            let a = Double(abs(x[k] - b[k]))
                            before += a
                            if rng.next() < cut { after += a }
                        }
                        sums[(chunk.index * random.count + j) * 2] = before
                        sums[(chunk.index * random.count + j) * 2 + 1] = after
                    }
                }
            }
            for c in 0..<chunks.chunkCount {
                for (j, i) in random.enumerated() {
                    l1Before[i] += perChunk[(c * random.count + j) * 2]
                    l1After[i] += perChunk[(c * random.count + j) * 2 + 1]
                }
            }
        }
        if rescale {
            // mergekit's rescale: kept entries scaled so the L1 norm matches the unsparsified one.
            for i in trimmed where l1Before[i] >= 1e-7 && l1After[i] >= 1e-7 {
                trims[i].scale = Float(l1Before[i] / l1After[i])
            }
        }
        return trims
    }

    func density(_ p: [String: Double]) -> Double { p["density"] ?? 1 }
}

/// The magnitude threshold of each trimmed model's task vector, so that exactly
/// k = floor(density * n) deltas are kept (ties at the threshold broken by position), found in
/// passes over the chunks without a copy of the tensor: a radix select on the bit patterns of
/// |delta| (for non-negative floats the bit pattern orders like the value). Pass 1 histograms the
/// high 16 bits, pass 2 the low 16 bits within the bucket that holds the k-th largest; a third
/// pass runs only when some but not all ties are kept (to count them per chunk) or for the L1
/// rescale (the sum of the kept magnitudes).
struct MagnitudeSurvey {
    var rules: [GeneralizedTaskArithmetic.Trim.Rule] = []
    var l1Before: [Double]
    var l1After: [Double]

    init(_ chunks: TensorChunks, models: [Int], keep: [Int], measureL1: Bool) throws {
        let m = models.count, buckets = 1 << 16
        let workers = chunks.workerCount
        l1Before = [Double](repeating: 0, count: m)
        l1After = l1Before
        // Per worker and model: a histogram (UInt32 counts: a tensor has fewer than 2^32 elements).
        var histograms = [UInt32](repeating: 0, count: workers * m * buckets)
        var perChunkL1 = [Double](repeating: 0, count: measureL1 ? chunks.chunkCount * m : 0)

        func delta(_ chunk: TensorChunks.Chunk, _ model: Int, _ body: (UInt32) -> Void) {
            let x = chunk.inputs[models[model]], b = chunk.base!
            for k in 0..<b.count { body((x[k] - b[k]).bitPattern & 0x7FFF_FFFF) }
        }

        // Pass 1: high halves.
        try histograms.withUnsafeMutableBufferPointer { h in
            try perChunkL1.withUnsafeMutableBufferPointer { l1 in
                try chunks.forEach(survey: true) { chunk in
                    for j in 0..<m {
                        let hist = h.baseAddress! + (chunk.worker * m + j) * buckets
                        var sum = 0.0
                        delta(chunk, j) { bits in
                            hist[Int(bits >> 16)] &+= 1
                            if measureL1 { sum += Double(Float(bitPattern: bits)) }
                        }
                        if measureL1 { l1[chunk.index * m + j] = sum }
                    }
                }
            }
        }
        /// Model j's count in bucket b, over all workers' histograms.
        func count(_ j: Int, _ b: Int) -> Int { (0..<workers).reduce(0) { $0 + Int(histograms[($1 * m + j) * buckets + b]) } }
        var high = [Int](repeating: 0, count: m), remaining = keep
        for j in 0..<m {
            var bucket = buckets - 1
            while remaining[j] > count(j, bucket) { remaining[j] -= count(j, bucket); bucket -= 1 }
            high[j] = bucket
            if measureL1 { l1Before[j] = (0..<chunks.chunkCount).reduce(0.0) { $0 + perChunkL1[$1 * m + j] } }
        }

        // Pass 2: low halves within each model's bucket.
        histograms.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        try histograms.withUnsafeMutableBufferPointer { h in
            try chunks.forEach(survey: true) { chunk in
                for j in 0..<m {
                    let hist = h.baseAddress! + (chunk.worker * m + j) * buckets
                    let target = UInt32(high[j])
                    delta(chunk, j) { bits in if bits >> 16 == target { hist[Int(bits & 0xFFFF)] &+= 1 } }
                }
            }
        }
        var thresholds = [Float](repeating: 0, count: m), ties = [Int](repeating: 0, count: m)
        for j in 0..<m {
            var low = buckets - 1
            while remaining[j] > count(j, low) { remaining[j] -= count(j, low); low -= 1 }
            thresholds[j] = Float(bitPattern: UInt32(high[j] << 16 | low))
            ties[j] = count(j, low)  // deltas equal to the threshold; remaining[j] of them are kept
        }

        // Pass 3, when needed: ties per chunk (a zero threshold needs no split: zeros add nothing)
        // and the L1 of the deltas above the threshold.
        let split = (0..<m).map { thresholds[$0] > 0 && remaining[$0] > 0 && remaining[$0] < ties[$0] }
        var tiesPerChunk = [Int](repeating: 0, count: split.contains(true) ? chunks.chunkCount * m : 0)
        if split.contains(true) || measureL1 {
            try tiesPerChunk.withUnsafeMutableBufferPointer { t in
                try perChunkL1.withUnsafeMutableBufferPointer { l1 in
                    try chunks.forEach(survey: true) { chunk in
                        for j in 0..<m where split[j] || measureL1 {
                            let threshold = thresholds[j].bitPattern
                            var equal = 0, above = 0.0
                            delta(chunk, j) { bits in
                                if bits == threshold { equal += 1 } else if bits > threshold, measureL1 { above += Double(Float(bitPattern: bits)) }
                            }
                            if split[j] { t[chunk.index * m + j] = equal }
                            if measureL1 { l1[chunk.index * m + j] = above }
                        }
                    }
                }
            }
        }
        for j in 0..<m {
            var before: [Int]?
            if split[j] {
                var running = 0
                before = (0...chunks.chunkCount).map { c in defer { if c < chunks.chunkCount { running += tiesPerChunk[c * m + j] } }; return running }
            }
            // At least one tie (the k-th largest itself) is always kept.
            let keptTies = remaining[j]
            rules.append(.magnitude(threshold: thresholds[j], tieBudget: keptTies, tiesBefore: before))
            if measureL1 {
                l1After[j] = (0..<chunks.chunkCount).reduce(0.0) { $0 + perChunkL1[$1 * m + j] } + Double(thresholds[j]) * Double(keptTies)
            }
        }
    }
}

extension SplitMix {
    /// The generator as it is after `position` draws from `seed` (SplitMix advances its state by
    /// a constant per draw), so a chunk's draws can start at its first element.
    static func positioned(seed: UInt64, at position: Int) -> SplitMix {
        SplitMix(seed: seed &+ UInt64(position) &* 0x9E37_79B9_7F4A_7C15)
    }
}
