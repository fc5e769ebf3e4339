import Foundation
import RecallTensor
import RecallMerge

/// What `recallctl init` chose for a registry: the base model, the merge method with its options,
/// and the scenario. Stored in the `settings` table; fixed for the registry's life.
public struct RegistrySettings: Equatable, Sendable {
    /// `experts`: every task model is fine-tuned from the base; each register merges all of them.
    /// `sequential`: each new model is fine-tuned from the head; each register merges head + new.
    public enum Scenario: String, Sendable, CaseIterable { case experts, sequential }

    public var baseModelID: Int
    public var method: MergeMethodName
    public var scenario: Scenario
    /// Method options as given (`--opt key=value`), checked by `MergePlan` at init.
    public var options: [String: String]
    /// Merge gate: head does not move when a watched task (one registered with eval items)
    /// drops by more than this many accuracy points below its best earlier version.
    public var gatePoints: Double?
    /// The eval metric the gate and `history --eval` use: `accuracy` (summed log-prob of a
    /// choice) or `accuracy_norm` (per-token, length-normalised).
    public var evalMetric: EvalMetric

    public init(baseModelID: Int, method: MergeMethodName, scenario: Scenario, options: [String: String],
                gatePoints: Double? = nil, evalMetric: EvalMetric = .accuracy) {
        self.baseModelID = baseModelID
        self.method = method
        self.scenario = scenario
        self.options = options
        self.gatePoints = gatePoints
        self.evalMetric = evalMetric
    }

    public var json: JSONValue {
        .object([
            ("base_model_id", .int(baseModelID)), ("method", .string(method.rawValue)), ("scenario", .string(scenario.rawValue)),
            ("options", .object(options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("gate_points", gatePoints.map { .number($0, integer: nil) } ?? .null), ("eval_metric", .string(evalMetric.rawValue)),
        ])
    }
}

extension ProvenanceStore {
    /// The registry's settings, or nil before `init` (no rows). A settings table with rows is
    /// read strictly: a missing or unreadable value is damage, reported naming the key, never
    /// mistaken for "not initialised".
    public func settings() throws -> RegistrySettings? {
        try locked {
            let rows = try db.query("SELECT key, value FROM settings")
            guard !rows.isEmpty else { return nil }
            var map: [String: String] = [:]
            for row in rows {
                let r = RowReader(row, table: "settings", key: "key")
                map[try r.text("key")] = try r.text("value")
            }
            func damage(_ key: String, _ what: String) -> RecallError {
                RecallError(.io, "registry.sqlite: settings `\(key)` \(what); the home is damaged: verify it and restore it from a backup")
            }
            func required(_ key: String) throws -> String {
                guard let v = map[key] else { throw damage(key, "is missing") }
                return v
            }
            guard let base = Int(try required("base_model_id")) else { throw damage("base_model_id", "is not an integer") }
            guard let method = MergeMethodName(rawValue: try required("method")) else {
                throw damage("method", "is not a known merge method (\(MergeMethodName.known.joined(separator: ", ")))")
            }
            guard let scenario = RegistrySettings.Scenario(rawValue: try required("scenario")) else {
                throw damage("scenario", "is not one of \(RegistrySettings.Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var options: [String: String] = [:]
            if let text = map["options"] {
                guard let object = (try? JSONValue.parse(Data(text.utf8)))?.objectValue else { throw damage("options", "is not a JSON object") }
                for (key, value) in object {
                    guard let s = value.stringValue else { throw damage("options", "has a non-string value for '\(key)'") }
                    options[key] = s
                }
            }
            var gatePoints: Double?
            if let text = map["gate_points"] {
                guard let v = Double(text) else { throw damage("gate_points", "is not a number") }
                gatePoints = v
            }
            // Homes made before the eval metric was a setting have no row: they used accuracy.
            guard let metric = EvalMetric(rawValue: map["eval_metric"] ?? EvalMetric.accuracy.rawValue) else {
                throw damage("eval_metric", "is not one of \(EvalMetric.allowed)")
            }
            return RegistrySettings(baseModelID: base, method: method, scenario: scenario, options: options,
                                    gatePoints: gatePoints, evalMetric: metric)
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
                for (k, v) in [("base_model_id", String(settings.baseModelID)), ("method", settings.method.rawValue),
                               ("scenario", settings.scenario.rawValue), ("options", optionsJSON),
                               ("eval_metric", settings.evalMetric.rawValue)] + (settings.gatePoints.map { [("gate_points", String($0))] } ?? []) {
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
