import RecallTensor

/// `POST /v1/init`: the base model (a path on the daemon's machine, so Unix socket only), the merge
/// method with its options, the scenario and the merge gate.
public struct InitRequest: Equatable, Sendable {
    public var base: String
    public var method: String
    /// `experts` or `sequential` (checked by the registry's settings).
    public var scenario: String
    public var options: [String: String]
    /// Accuracy points a watched task may drop before head stops moving; nil: no gate.
    public var gate: Double?
    public var evalMetric: String

    public static let defaultMethod = "regmean"

    public init(base: String, method: String = InitRequest.defaultMethod, scenario: String = "experts",
                options: [String: String] = [:], gate: Double? = nil, evalMetric: String = "accuracy") {
        self.base = base
        self.method = method
        self.scenario = scenario
        self.options = options
        self.gate = gate
        self.evalMetric = evalMetric
    }

    public init(json: JSONValue) throws {
        base = try json.requiredString("base")
        method = try json.string("method") ?? Self.defaultMethod
        scenario = try json.string("scenario") ?? "experts"
        options = try json.stringMap("options")
        gate = try json.nonNegativeNumber("gate", what: "accuracy points")
        evalMetric = try json.string("eval_metric") ?? "accuracy"
    }

    public var json: JSONValue {
        .object([
            ("base", .string(base)), ("method", .string(method)), ("scenario", .string(scenario)),
            ("options", .object(options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("gate", gate.map { .number($0, integer: nil) } ?? .null), ("eval_metric", .string(evalMetric)),
        ])
    }
}
