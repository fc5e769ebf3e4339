import Foundation
import RecallTensor

/// What a client asks for with `register`. The samples travel as text, so a remote client works
/// the same as a local one; the model is a path on the daemon's machine (an upload is first
/// written to the daemon's `incoming/` directory and named by that path).
public struct RegisterRequest: Sendable {
    public var model: String
    public var task: String
    /// Display name of the model; default: the file or directory name.
    public var name: String?
    public var samples: String
    /// The samples file's name as the user knows it, for error messages.
    public var samplesName: String
    /// Merge onto this version (number or tag) instead of head.
    public var parent: String?
    /// The upload to delete once the job is over.
    public var uploaded: Bool
    /// An upload id from `POST /v1/uploads`, instead of a path (the only form accepted over TCP).
    public var upload: String?
    /// Eval items (JSONL with prompt/choices/answer): the task is then evaluated on every later version.
    public var eval: String?
    public var evalName: String
    /// Merge gate for this register (accuracy points), overriding the registry's.
    public var gate: Double?
    /// The version the model was fine-tuned from (number, tag, `head` or `base`): a PEFT adapter
    /// is applied to that version's model and the task vector is taken against it. Default:
    /// `base` in the experts scenario, the parent version (head) in the sequential one.
    public var trainedFrom: String?

    public init(model: String, task: String, name: String? = nil, samples: String, samplesName: String = "samples",
                parent: String? = nil, uploaded: Bool = false, eval: String? = nil, evalName: String = "eval",
                gate: Double? = nil, trainedFrom: String? = nil, upload: String? = nil) {
        self.upload = upload
        self.model = model
        self.task = task
        self.name = name
        self.samples = samples
        self.samplesName = samplesName
        self.parent = parent
        self.uploaded = uploaded
        self.eval = eval
        self.evalName = evalName
        self.gate = gate
        self.trainedFrom = trainedFrom
    }

    /// Reads a request body; a missing or mistyped field is named.
    public init(json: JSONValue) throws {
        func string(_ key: String, required: Bool = true) throws -> String? {
            guard let v = json[key], !v.isNull else {
                if required { throw RecallError(.invalidArgument, "request: field \"\(key)\" is missing") }
                return nil
            }
            guard let s = v.stringValue else { throw RecallError(.invalidArgument, "request: field \"\(key)\" must be a string") }
            return s
        }
        upload = try string("upload", required: false)
        model = try string("model", required: upload == nil) ?? ""
        task = try string("task")!
        name = try string("name", required: false)
        samples = try string("samples")!
        samplesName = try string("samples_name", required: false) ?? "samples"
        parent = try string("parent", required: false)
        uploaded = json["uploaded"]?.boolValue ?? false
        eval = try string("eval", required: false)
        evalName = try string("eval_name", required: false) ?? "eval"
        if let g = json["gate"], !g.isNull {
            guard let v = g.doubleValue, v >= 0 else { throw RecallError(.invalidArgument, "request: field \"gate\" must be a non-negative number of points") }
            gate = v
        } else {
            gate = nil
        }
        trainedFrom = try string("trained_from", required: false)
    }

    public var json: JSONValue {
        .object([
            ("model", .string(model)), ("upload", upload.map { .string($0) } ?? .null), ("task", .string(task)), ("name", name.map { .string($0) } ?? .null),
            ("samples", .string(samples)), ("samples_name", .string(samplesName)),
            ("parent", parent.map { .string($0) } ?? .null), ("uploaded", .bool(uploaded)),
            ("eval", eval.map { .string($0) } ?? .null), ("eval_name", .string(evalName)),
            ("gate", gate.map { .number($0, integer: nil) } ?? .null),
            ("trained_from", trainedFrom.map { .string($0) } ?? .null),
        ])
    }
}
