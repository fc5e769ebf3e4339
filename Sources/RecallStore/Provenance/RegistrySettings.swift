import Foundation
import RecallTensor

/// What `recallctl init` chose for a registry: the base model, the merge method with its options,
/// and the scenario. Stored in the `settings` table; fixed for the registry's life.
public struct RegistrySettings: Equatable, Sendable {
    /// `experts`: every task model is fine-tuned from the base; each register merges all of them.
    /// `sequential`: each new model is fine-tuned from the head; each register merges head + new.
    public enum Scenario: String, Sendable, CaseIterable { case experts, sequential }

    public var baseModelID: Int
    public var method: String
    public var scenario: Scenario
    /// Method options as given (`--opt key=value`), checked by `MergePlan` at init.
    public var options: [String: String]
    /// Merge gate: head does not move when a watched task (one registered with eval items)
    /// drops by more than this many accuracy points below its best earlier version.
    public var gatePoints: Double?
    /// The eval metric the gate and `history --eval` use: `accuracy` (summed log-prob of a
    /// choice) or `accuracy_norm` (per-token, length-normalised).
    public var evalMetric: String

    public static let evalMetrics = ["accuracy", "accuracy_norm"]

    public init(baseModelID: Int, method: String, scenario: Scenario, options: [String: String],
                gatePoints: Double? = nil, evalMetric: String = "accuracy") {
        self.baseModelID = baseModelID
        self.method = method
        self.scenario = scenario
        self.options = options
        self.gatePoints = gatePoints
        self.evalMetric = evalMetric
    }

    public var json: JSONValue {
        .object([
            ("base_model_id", .int(baseModelID)), ("method", .string(method)), ("scenario", .string(scenario.rawValue)),
            ("options", .object(options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("gate_points", gatePoints.map { .number($0, integer: nil) } ?? .null), ("eval_metric", .string(evalMetric)),
        ])
    }
}

extension ProvenanceStore {
    /// The registry's settings, or nil before `init`.
    public func settings() throws -> RegistrySettings? {
        try locked {
            let rows = try db.query("SELECT key, value FROM settings")
            var map: [String: String] = [:]
            for r in rows { map[r["key"].text ?? ""] = r["value"].text ?? "" }
            guard let base = map["base_model_id"].flatMap(Int.init), let method = map["method"],
                  let scenario = map["scenario"].flatMap(RegistrySettings.Scenario.init(rawValue:)) else { return nil }
            let options = try map["options"].map { try JSONValue.parse(Data($0.utf8)) }?.objectValue ?? []
            return RegistrySettings(baseModelID: base, method: method, scenario: scenario,
                                    options: Dictionary(uniqueKeysWithValues: options.map { ($0.0, $0.1.stringValue ?? "") }),
                                    gatePoints: map["gate_points"].flatMap(Double.init), evalMetric: map["eval_metric"] ?? "accuracy")
        }
    }

    /// Records the settings and the base as version 1 with head on it, in one transaction.
    package func initialize(_ settings: RegistrySettings) throws -> VersionRecord {
        try locked {
            try db.transaction {
                guard try db.query("SELECT 1 FROM settings").isEmpty else {
                    throw RecallError(.conflict, "the registry is already initialised; use a new --home for another base")
                }
                let optionsJSON = JSONValue.object(settings.options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
                // Same shape as a registered version's details: {options, scenario, ...}.
                let detailsJSON = JSONValue.object([("options", settings.json["options"] ?? .object([])),
                                                    ("scenario", .string(settings.scenario.rawValue))]).serialized()
                for (k, v) in [("base_model_id", String(settings.baseModelID)), ("method", settings.method),
                               ("scenario", settings.scenario.rawValue), ("options", optionsJSON),
                               ("eval_metric", settings.evalMetric)] + (settings.gatePoints.map { [("gate_points", String($0))] } ?? []) {
                    try db.query("INSERT INTO settings(key, value) VALUES (?, ?)", [.text(k), .text(v)])
                }
                try db.query("INSERT INTO versions(number, model_id, method, options_json, message) VALUES (1, ?, 'base', ?, 'base model')",
                             [.of(settings.baseModelID), .text(detailsJSON)])
                try db.query("INSERT INTO merge_inputs(version, model_id, role) VALUES (1, ?, 'base')", [.of(settings.baseModelID)])
                try db.query("INSERT INTO refs(name, kind, version) VALUES ('head', 'head', 1)")
                try db.query("INSERT INTO events(kind, version, model_id, detail_json) VALUES ('registry.init', 1, ?, ?)",
                             [.of(settings.baseModelID), .text(settings.json.serialized())])
                return try VersionRecord(row: try db.query("SELECT * FROM versions WHERE number = 1")[0])
            }
        }
    }
}
