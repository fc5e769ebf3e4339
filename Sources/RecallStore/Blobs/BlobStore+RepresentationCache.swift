import Crypto
import Foundation
import RecallMerge

/// RECALL's representation cache in the `reps` database: one value per (model content hash,
/// SHA-256 of the sample text, pooling) holding every layer's pooled vector back to back, so a
/// model never runs twice on the same typical sample. Vectors are content-addressed by the model,
/// so they never go stale; gc leaves them (they are small: layers x hidden floats).
extension BlobStore: RepresentationCache {
    static func representationKey(model: String, sample: String, pooling: String) -> [UInt8] {
        let sampleHash = Hex.encode(Array(SHA256.hash(data: Data(sample.utf8))))
        return Array("\(model)/\(sampleHash)/\(pooling)".utf8)
    }

    public func representations(model: String, sample: String, pooling: String, layers: Int) throws -> [[Float]]? {
        try env.read { txn in
            try txn.withValue("reps", Self.representationKey(model: model, sample: sample, pooling: pooling)) { value -> [[Float]]? in
                guard let value, layers > 0, value.count % (4 * layers) == 0, !value.isEmpty else { return nil }
                let width = value.count / 4 / layers
                return (0..<layers).map { l in
                    [Float](unsafeUninitializedCapacity: width) { buf, n in
                        UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: value[(l * width * 4)..<((l + 1) * width * 4)]))
                        n = width
                    }
                }
            }
        }
    }

    public func store(model: String, sample: String, pooling: String, _ layers: [[Float]]) throws {
        let flat = layers.flatMap { $0 }
        try env.write { txn in
            try flat.withUnsafeBytes { try txn.put("reps", Self.representationKey(model: model, sample: sample, pooling: pooling), $0) }
        }
    }
}
