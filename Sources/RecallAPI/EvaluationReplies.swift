/// The answers about evaluations: the accuracy matrix and one version scored now.

/// `GET /v1/evaluations` (schema `Evaluations`): the accuracy matrix, versions x tasks, in one metric.
public struct EvaluationsReply: Codable, Equatable, Sendable {
    /// `accuracy` or `accuracy_norm`.
    public var metric: String
    /// Every watched task, then any other task a version was scored on.
    public var tasks: [String]
    /// The evaluated versions, oldest first.
    public var versions: [Row]

    public init(metric: String, tasks: [String], versions: [Row]) {
        self.metric = metric
        self.tasks = tasks
        self.versions = versions
    }

    /// One evaluated version.
    public struct Row: Codable, Equatable, Sendable {
        public var version: Int
        /// The task the version registered; nil for the base (sent as `null`).
        public var task: String?
        public var head: Bool
        public var gated: Bool
        /// Task name -> accuracy in [0, 1].
        public var accuracy: [String: Double]

        public init(version: Int, task: String?, head: Bool, gated: Bool, accuracy: [String: Double]) {
            self.version = version
            self.task = task
            self.head = head
            self.gated = gated
            self.accuracy = accuracy
        }

        enum CodingKeys: String, CodingKey { case version, task, head, gated, accuracy }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(version, forKey: .version)
            try c.encode(task, forKey: .task)
            try c.encode(head, forKey: .head)
            try c.encode(gated, forKey: .gated)
            try c.encode(accuracy, forKey: .accuracy)
        }
    }
}

/// `POST /v1/versions/{ref}/eval` (schema `EvalReport`): a version scored now on every watched task.
public struct EvalReply: Codable, Equatable, Sendable {
    public var version: Int
    public var results: [Result]

    public init(version: Int, results: [Result]) {
        self.version = version
        self.results = results
    }

    /// One task's score.
    public struct Result: Codable, Equatable, Sendable {
        public var task: String
        public var accuracy: Double
        /// Per-token (length-normalised) accuracy.
        public var accuracyNorm: Double
        /// Items scored.
        public var n: Int

        public init(task: String, accuracy: Double, accuracyNorm: Double, n: Int) {
            self.task = task
            self.accuracy = accuracy
            self.accuracyNorm = accuracyNorm
            self.n = n
        }

        enum CodingKeys: String, CodingKey { case task, accuracy, accuracyNorm = "accuracy_norm", n }
    }
}
