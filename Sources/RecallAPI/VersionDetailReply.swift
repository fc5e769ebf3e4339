import RecallTensor

/// `GET /v1/versions/{ref}` (schema `VersionDetail`): a version with its model, inputs, per-layer
/// weights, similarities and typical samples. Nil fields are sent as `null`. Named with `Reply`
/// like the other reply types (RecallStore has its own `VersionDetail`, the provenance rows).
public struct VersionDetailReply: Codable, Equatable, Sendable {
    public var version: Int
    public var parent: Int?
    public var task: String?
    public var method: String
    public var message: String
    public var createdAt: String
    public var head: Bool
    public var gated: Bool
    public var gateReason: String?
    public var model: Model
    /// The models merged into this version, by model id.
    public var inputs: [Input]
    /// Input model names keyed by model id (as a string).
    public var modelNames: [String: String]
    public var layerWeights: [LayerWeights]
    public var similarities: [Similarity]
    /// The task's typical samples kept for later merges.
    public var typicalSamples: [TypicalSample]
    /// The recorded merge options, free-form: `options`, `scenario`, and with RECALL `lambda`,
    /// `lambda_losses`, `probe_samples`, `cached_representations`.
    public var details: JSONValue

    public init(version: Int, parent: Int?, task: String?, method: String, message: String, createdAt: String, head: Bool,
                gated: Bool, gateReason: String?, model: Model, inputs: [Input], modelNames: [String: String],
                layerWeights: [LayerWeights], similarities: [Similarity], typicalSamples: [TypicalSample], details: JSONValue) {
        self.version = version
        self.parent = parent
        self.task = task
        self.method = method
        self.message = message
        self.createdAt = createdAt
        self.head = head
        self.gated = gated
        self.gateReason = gateReason
        self.model = model
        self.inputs = inputs
        self.modelNames = modelNames
        self.layerWeights = layerWeights
        self.similarities = similarities
        self.typicalSamples = typicalSamples
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case version, parent, task, method, message, createdAt = "created_at", head, gated, gateReason = "gate_reason", model, inputs
        case modelNames = "model_names", layerWeights = "layer_weights", similarities, typicalSamples = "typical_samples", details
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(parent, forKey: .parent)
        try c.encode(task, forKey: .task)
        try c.encode(method, forKey: .method)
        try c.encode(message, forKey: .message)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(head, forKey: .head)
        try c.encode(gated, forKey: .gated)
        try c.encode(gateReason, forKey: .gateReason)
        try c.encode(model, forKey: .model)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(modelNames, forKey: .modelNames)
        try c.encode(layerWeights, forKey: .layerWeights)
        try c.encode(similarities, forKey: .similarities)
        try c.encode(typicalSamples, forKey: .typicalSamples)
        try c.encode(details, forKey: .details)
    }
}
