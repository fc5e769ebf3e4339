import RecallTensor

/// A job as the API shows it (schema `Job`): `GET /v1/jobs` (a list), `GET /v1/jobs/{id}`, the
/// register 202 answer and each line of `GET /v1/jobs/{id}/watch`. Nil fields are sent as `null`.
public struct JobReply: Codable, Equatable, Sendable {
    public var id: Int
    /// `register`.
    public var kind: String
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    public var state: String
    /// The running phase; `done` when succeeded; nil before the job starts.
    public var phase: String?
    /// 0 to 1.
    public var progress: Double
    /// Why the job failed.
    public var error: String?
    /// Free-form (schema `JobResult`): while the job runs what finished phases produced, when it
    /// succeeded the version it made (or the one identical content already had).
    public var result: JSONValue?
    /// The task of the register request.
    public var task: String?
    /// The model path of the register request (its file name only for TCP clients).
    public var model: String?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// Estimated seconds left; only for the running job once progress is over 2%.
    public var etaSeconds: Double?

    public init(id: Int, kind: String, state: String, phase: String?, progress: Double, error: String?, result: JSONValue?,
                task: String?, model: String?, createdAt: String, startedAt: String?, finishedAt: String?, etaSeconds: Double?) {
        self.id = id
        self.kind = kind
        self.state = state
        self.phase = phase
        self.progress = progress
        self.error = error
        self.result = result
        self.task = task
        self.model = model
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.etaSeconds = etaSeconds
    }

    /// Over: succeeded, failed or cancelled.
    public var isFinished: Bool { state == "succeeded" || state == "failed" || state == "cancelled" }

    enum CodingKeys: String, CodingKey {
        case id, kind, state, phase, progress, error, result, task, model
        case createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at", etaSeconds = "eta_seconds"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        kind = try c.decode(String.self, forKey: .kind)
        state = try c.decode(String.self, forKey: .state)
        phase = try c.decodeIfPresent(String.self, forKey: .phase)
        progress = try c.decode(Double.self, forKey: .progress)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        // A null result is nil, not `.null`: "no result" has one spelling.
        result = try c.decodeIfPresent(JSONValue.self, forKey: .result).flatMap { $0.isNull ? nil : $0 }
        task = try c.decodeIfPresent(String.self, forKey: .task)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        startedAt = try c.decodeIfPresent(String.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        etaSeconds = try c.decodeIfPresent(Double.self, forKey: .etaSeconds)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind, forKey: .kind)
        try c.encode(state, forKey: .state)
        try c.encode(phase, forKey: .phase)
        try c.encode(progress, forKey: .progress)
        try c.encode(error, forKey: .error)
        try c.encode(result, forKey: .result)
        try c.encode(task, forKey: .task)
        try c.encode(model, forKey: .model)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(etaSeconds, forKey: .etaSeconds)
    }
}
