import Foundation
import RecallTensor
import RecallModel

/// Second moments of every linear module's inputs of one model on one task's samples, as Gram
/// sketches: `sketches[layer][site]` for the four inputs of a decoder layer (q/k/v share one,
/// o_proj, gate/up share one, down_proj). These are RegMean's `G_i = X_iᵀ X_i`.
///
/// One forward pass collects them: each layer's input rows are kept only while that layer
/// runs over every chunk, then sketched and dropped, so memory is one layer's rows (tokens x
/// (3·hidden + intermediate) floats), never a dense `d x d` per module.
public struct ActivationStatistics: Equatable, Sendable {
    public var sketches: [[GramSketch]]
    public var layerCount: Int { sketches.count }

    public init(sketches: [[GramSketch]]) { self.sketches = sketches }

    public func sketch(layer: Int, site: ActivationSite) -> GramSketch? {
        layer < sketches.count ? sketches[layer][site.rawValue] : nil
    }

    /// Runs `model` over `batch` (token ids per sample) and sketches each module input at `rank`.
    public static func collect(_ model: LlamaModel, batch: [[Int]], rank: Int) throws -> ActivationStatistics {
        for (i, s) in batch.enumerated() { try model.validate(s, "statistics sample \(i)") }
        let layers = model.config.numHiddenLayers
        var rows = [[Float]](repeating: [], count: ActivationSite.allCases.count)
        var widths = [Int](repeating: 0, count: ActivationSite.allCases.count)
        var sketches: [[GramSketch]] = []
        try model.forward(batch, capture: { _, site, x, n, d, ld in
            widths[site.rawValue] = d
            for r in 0..<n { rows[site.rawValue].append(contentsOf: UnsafeBufferPointer(start: x + r * ld, count: d)) }
        }, record: { layer, _ in
            // record(l + 1) follows decoder layer l over every chunk.
            guard layer >= 1 else { return }
            var sites: [GramSketch] = []
            for site in ActivationSite.allCases {
                let d = widths[site.rawValue]
                let n = d == 0 ? 0 : rows[site.rawValue].count / d
                let sketch = try rows[site.rawValue].withUnsafeBufferPointer {
                    try GramSketch.of($0.baseAddress ?? UnsafePointer(bitPattern: 8)!, rows: n, dim: d, ld: d, rank: rank)
                }
                sites.append(sketch)
                rows[site.rawValue].removeAll(keepingCapacity: true)
            }
            sketches.append(sites)
        })
        guard sketches.count == layers else {
            throw RecallError(.invalidArgument, "activation statistics: \(sketches.count) layers seen, the model has \(layers)")
        }
        return ActivationStatistics(sketches: sketches)
    }

    /// `Σ weights[i] · statistics[i]`, module by module, compressed back to `rank`.
    public static func sum(_ statistics: [ActivationStatistics], weights: [Double]? = nil, rank: Int) throws -> ActivationStatistics {
        guard let first = statistics.first else { throw RecallError(.invalidArgument, "a sum of statistics needs at least one") }
        guard statistics.allSatisfy({ $0.layerCount == first.layerCount }) else {
            throw RecallError(.mismatch, "activation statistics of different depths cannot be added")
        }
        return ActivationStatistics(sketches: try (0..<first.layerCount).map { l in
            try ActivationSite.allCases.map { site in
                try GramSketch.sum(statistics.map { $0.sketches[l][site.rawValue] }, weights: weights, rank: rank)
            }
        })
    }

    /// Bytes of one layer (its four sketches), for the store.
    public func serialized(layer: Int) -> [UInt8] { sketches[layer].flatMap(\.serialized) }

    /// Bytes cached at 4 bytes a float (what the 5%-of-the-model budget is measured on).
    public var byteCount: Int { (0..<layerCount).reduce(0) { $0 + serialized(layer: $1).count } }

    public static func layer(from bytes: UnsafeRawBufferPointer, source: String) throws -> [GramSketch] {
        var offset = 0
        let sites = try ActivationSite.allCases.map { _ in try GramSketch.read(bytes, offset: &offset, source: source) }
        guard offset == bytes.count else { throw RecallError(.invalidFile, "\(source): \(bytes.count - offset) trailing bytes after the Gram sketches") }
        return sites
    }
}

/// Where activation statistics are kept between registers (the blob store's `grams`
/// database), keyed by the model's content hash and the recipe (rank and sample choice).
public protocol StatisticsCache {
    func statistics(model: String, recipe: String, layers: Int) throws -> ActivationStatistics?
    func store(model: String, recipe: String, _ statistics: ActivationStatistics, samples: String) throws
}
