/// `GET /v1/status` (schema `Status`): the daemon's version and home, the registry's settings,
/// head, counts of versions, models and jobs, and the store's size. Nil fields are sent as `null`.
public struct StatusReply: Codable, Equatable, Sendable {
    /// The daemon's version.
    public var version: String
    /// The registry home directory; nil (sent as `null`) over TCP, where a client never sees a
    /// path on the daemon's machine.
    public var home: String?
    public var initialised: Bool
    /// Nil before init.
    public var settings: SettingsReply?
    /// The version head points at; nil before init.
    public var head: Int?
    public var versions: Int
    public var models: Int
    public var jobs: JobCounts
    /// Id of the job the worker is running.
    public var runningJob: Int?
    public var store: Store

    public init(version: String, home: String?, initialised: Bool, settings: SettingsReply?, head: Int?, versions: Int, models: Int,
                jobs: JobCounts, runningJob: Int?, store: Store) {
        self.version = version
        self.home = home
        self.initialised = initialised
        self.settings = settings
        self.head = head
        self.versions = versions
        self.models = models
        self.jobs = jobs
        self.runningJob = runningJob
        self.store = store
    }

    enum CodingKeys: String, CodingKey {
        case version, home, initialised, settings, head, versions, models, jobs, runningJob = "running_job", store
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(home, forKey: .home)
        try c.encode(initialised, forKey: .initialised)
        try c.encode(settings, forKey: .settings)
        try c.encode(head, forKey: .head)
        try c.encode(versions, forKey: .versions)
        try c.encode(models, forKey: .models)
        try c.encode(jobs, forKey: .jobs)
        try c.encode(runningJob, forKey: .runningJob)
        try c.encode(store, forKey: .store)
    }

    /// Jobs by state (cancelled ones are not counted).
    public struct JobCounts: Codable, Equatable, Sendable {
        public var queued: Int
        public var running: Int
        public var succeeded: Int
        public var failed: Int

        public init(queued: Int, running: Int, succeeded: Int, failed: Int) {
            self.queued = queued
            self.running = running
            self.succeeded = succeeded
            self.failed = failed
        }
    }

    /// The blob store's size.
    public struct Store: Codable, Equatable, Sendable {
        /// Distinct chunks in the blob store.
        public var chunks: Int
        /// Compressed bytes of all chunks.
        public var storedBytes: Int
        /// Raw bytes of every stored model.
        public var logicalBytes: Int
        /// Uncompressed bytes of the chunks the models added; nil (sent as `null`) when a model
        /// was stored before these were recorded (the sum would lie).
        public var uniqueBytes: Int?

        public init(chunks: Int, storedBytes: Int, logicalBytes: Int, uniqueBytes: Int?) {
            self.chunks = chunks
            self.storedBytes = storedBytes
            self.logicalBytes = logicalBytes
            self.uniqueBytes = uniqueBytes
        }

        enum CodingKeys: String, CodingKey {
            case chunks, storedBytes = "stored_bytes", logicalBytes = "logical_bytes", uniqueBytes = "unique_bytes"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(chunks, forKey: .chunks)
            try c.encode(storedBytes, forKey: .storedBytes)
            try c.encode(logicalBytes, forKey: .logicalBytes)
            try c.encode(uniqueBytes, forKey: .uniqueBytes)
        }
    }
}

/// The registry's settings, fixed at init (schema `Settings`; `StatusReply.settings`).
public struct SettingsReply: Codable, Equatable, Sendable {
    public var baseModelID: Int
    /// Merge method (`recall` or a baseline method).
    public var method: String
    /// `experts` or `sequential`.
    public var scenario: String
    /// Method options as given at init (sent sorted by key).
    public var options: [String: String]
    /// Merge gate in accuracy points; nil (sent as `null`) when no gate is set.
    public var gatePoints: Double?
    /// `accuracy` or `accuracy_norm`.
    public var evalMetric: String

    public init(baseModelID: Int, method: String, scenario: String, options: [String: String], gatePoints: Double?, evalMetric: String) {
        self.baseModelID = baseModelID
        self.method = method
        self.scenario = scenario
        self.options = options
        self.gatePoints = gatePoints
        self.evalMetric = evalMetric
    }

    enum CodingKeys: String, CodingKey {
        case baseModelID = "base_model_id", method, scenario, options, gatePoints = "gate_points", evalMetric = "eval_metric"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(baseModelID, forKey: .baseModelID)
        try c.encode(method, forKey: .method)
        try c.encode(scenario, forKey: .scenario)
        try c.encode(options, forKey: .options)
        try c.encode(gatePoints, forKey: .gatePoints)
        try c.encode(evalMetric, forKey: .evalMetric)
    }
}
