import Foundation
import RecallMerge

/// RegMean's activation statistics in the `grams` database: one value per (model content hash,
/// recipe, decoder layer) holding that layer's four Gram sketches. `gc` removes the entries of
/// models whose manifest it removes, with the representation vectors of the same models.
extension BlobStore: StatisticsCache {
    static func statisticsKey(model: String, recipe: String, layer: Int) -> [UInt8] {
        Array("\(model)/\(recipe)/\(layer)".utf8)
    }

    public func statistics(model: String, recipe: String, layers: Int) throws -> ActivationStatistics? {
        try env.read { txn in
            var sketches: [[GramSketch]] = []
            for l in 0..<layers {
                let layer = try txn.withValue("grams", Self.statisticsKey(model: model, recipe: recipe, layer: l)) { value -> [GramSketch]? in
                    guard let value else { return nil }
                    return try ActivationStatistics.layer(from: value, source: "statistics of model \(model.prefix(12)) layer \(l)")
                }
                guard let layer else { return nil }
                sketches.append(layer)
            }
            return ActivationStatistics(sketches: sketches)
        }
    }

    /// Stores the statistics and the SHA-256 of the samples they were taken on (one transaction).
    public func store(model: String, recipe: String, _ statistics: ActivationStatistics, samples: String = "") throws {
        try env.write { txn in
            for l in 0..<statistics.layerCount {
                try txn.put("grams", Self.statisticsKey(model: model, recipe: recipe, layer: l), statistics.serialized(layer: l))
            }
            try txn.put("grams", Array("\(model)/\(recipe)/samples".utf8), Array(samples.utf8))
        }
    }

    /// The samples hash stored with a model's statistics, if any.
    public func statisticsSamples(model: String, recipe: String) throws -> String? {
        try env.read { txn in
            try txn.withValue("grams", Array("\(model)/\(recipe)/samples".utf8)) { value in
                value.map { String(decoding: $0, as: UTF8.self) }
            }
        }
    }

    /// Deletes cached statistics and representations of models outside `live` (content hashes).
    func dropCachedData(keeping live: Set<String>) throws -> Int {
        var dead: [(String, [UInt8])] = []
        try env.read { txn in
            for db in ["grams", "reps"] {
                try txn.forEach(db) { k, _ in
                    let model = String(decoding: k.prefix { $0 != UInt8(ascii: "/") }, as: UTF8.self)
                    if !live.contains(model) { dead.append((db, k)) }
                    return true
                }
            }
        }
        try env.write { txn in for (db, k) in dead { _ = try txn.delete(db, k) } }
        return dead.count
    }
}
