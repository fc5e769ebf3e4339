/// The nested objects of `VersionDetailReply` (schema `VersionDetail`'s `model`, `inputs`,
/// `layer_weights`, `similarities` and `typical_samples` items).
extension VersionDetailReply {
    /// The version's stored model.
    public struct Model: Codable, Equatable, Sendable {
        public var id: Int
        public var name: String
        public var contentHash: String
        public var rawBytes: Int
        /// New bytes stored for this model (after deduplication and compression).
        public var storedBytes: Int
        /// Uncompressed bytes of the chunks this model added; nil for models stored before it
        /// was recorded (sent as `null`).
        public var uniqueBytes: Int?

        public init(id: Int, name: String, contentHash: String, rawBytes: Int, storedBytes: Int, uniqueBytes: Int?) {
            self.id = id
            self.name = name
            self.contentHash = contentHash
            self.rawBytes = rawBytes
            self.storedBytes = storedBytes
            self.uniqueBytes = uniqueBytes
        }

        enum CodingKeys: String, CodingKey {
            case id, name, contentHash = "content_hash", rawBytes = "raw_bytes", storedBytes = "stored_bytes", uniqueBytes = "unique_bytes"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(name, forKey: .name)
            try c.encode(contentHash, forKey: .contentHash)
            try c.encode(rawBytes, forKey: .rawBytes)
            try c.encode(storedBytes, forKey: .storedBytes)
            try c.encode(uniqueBytes, forKey: .uniqueBytes)
        }
    }

    /// One model merged into the version.
    public struct Input: Codable, Equatable, Sendable {
        public var modelID: Int
        /// Empty when the model row is gone.
        public var name: String
        public var task: String?
        /// `base`, `expert`, `head` or `new`.
        public var role: String
        public var contentHash: String

        public init(modelID: Int, name: String, task: String?, role: String, contentHash: String) {
            self.modelID = modelID
            self.name = name
            self.task = task
            self.role = role
            self.contentHash = contentHash
        }

        enum CodingKeys: String, CodingKey {
            case modelID = "model_id", name, task, role, contentHash = "content_hash"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(modelID, forKey: .modelID)
            try c.encode(name, forKey: .name)
            try c.encode(task, forKey: .task)
            try c.encode(role, forKey: .role)
            try c.encode(contentHash, forKey: .contentHash)
        }
    }

    /// One layer's weight of each input model, keyed by model id (as a string).
    public struct LayerWeights: Codable, Equatable, Sendable {
        public var layer: Int
        public var weights: [String: Double]

        public init(layer: Int, weights: [String: Double]) {
            self.layer = layer
            self.weights = weights
        }
    }

    /// One layer's statistics of the pairwise similarities of the inputs (RECALL only).
    public struct Similarity: Codable, Equatable, Sendable {
        public var layer: Int
        public var mean: Double
        public var min: Double
        public var max: Double
        /// The layer's recorded sigma; nil (sent as `null`) when the merge recorded none.
        public var sigma: Double?

        public init(layer: Int, mean: Double, min: Double, max: Double, sigma: Double?) {
            self.layer = layer
            self.mean = mean
            self.min = min
            self.max = max
            self.sigma = sigma
        }

        enum CodingKeys: String, CodingKey { case layer, mean, min, max, sigma }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(layer, forKey: .layer)
            try c.encode(mean, forKey: .mean)
            try c.encode(min, forKey: .min)
            try c.encode(max, forKey: .max)
            try c.encode(sigma, forKey: .sigma)
        }
    }

    /// One typical sample of the version's task, with the size of the cluster it stands for.
    public struct TypicalSample: Codable, Equatable, Sendable {
        public var text: String
        public var clusterSize: Int

        public init(text: String, clusterSize: Int) {
            self.text = text
            self.clusterSize = clusterSize
        }

        enum CodingKeys: String, CodingKey { case text, clusterSize = "cluster_size" }
    }
}
