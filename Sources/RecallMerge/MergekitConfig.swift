import Foundation
import Yams
import RecallTensor

/// A mergekit YAML file (the `models:` form): `merge_method`, optional `base_model`, `models`
/// (each `model` plus optional `parameters`), global `parameters`, `dtype`, `random_seed`.
/// Model paths are resolved relative to the YAML file. The `slices:` form is refused with a
/// clear error rather than half-understood.
public struct MergekitConfig {
    public let method: String
    public let basePath: String?
    public let models: [(path: String, parameters: [String: ParameterSetting])]
    public let parameters: [String: ParameterSetting]
    public let dtype: DType?
    public let seed: UInt64

    public init(url: URL) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RecallError(.notFound, "\(url.path): cannot read (\(error.localizedDescription))")
        }
        let composed: Yams.Node?
        do { composed = try Yams.compose(yaml: text) } catch {
            throw RecallError(.invalidFile, "\(url.path): not valid YAML (\(String(describing: error).split(separator: "\n").first ?? ""))")
        }
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(url.path): \(why)") }
        // Our own reading of the nodes, not Yams' constructor: it force-unwraps every mapping key
        // as a string (trapped on `? [a, b]: 1`) and reads YAML 1.1 base-60 integers with
        // overflowing arithmetic (trapped on `999999999999999923:33`), both found by fuzzing.
        guard let composed, case let .object(root) = try Self.value(composed, at: "", bad: bad) else {
            throw bad("expected a YAML mapping at the top")
        }
        func field(_ key: String) -> JSONValue? { root.first { $0.0 == key }?.1 }
        if field("slices") != nil { throw bad("the slices: form is not supported; list whole models under models:") }
        guard let method = field("merge_method")?.stringValue else { throw bad("missing merge_method") }
        let dir = url.deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : dir.appendingPathComponent(p).path }
        func params(_ value: JSONValue?, _ where_: String) throws -> [String: ParameterSetting] {
            guard let value, value != .null else { return [:] }
            guard let map = value.objectValue else { throw bad("\(where_) parameters must be a mapping") }
            var out: [String: ParameterSetting] = [:]
            for (k, v) in map {
                do { out[k] = try ParameterSetting(json: v, field: "\(where_) \(k)") } catch let e as RecallError {
                    throw bad(e.message)
                }
            }
            return out
        }
        self.method = method
        basePath = field("base_model")?.stringValue.map(resolve)
        guard let list = field("models")?.arrayValue, !list.isEmpty else { throw bad("missing models: list") }
        models = try list.enumerated().map { i, entry in
            guard let path = entry["model"]?.stringValue else { throw bad("models[\(i)] needs a model: path") }
            return (resolve(path), try params(entry["parameters"], "models[\(i)]"))
        }
        parameters = try params(field("parameters"), "global")
        if let d = field("dtype")?.stringValue {
            guard let dt = DType(userSpelling: d), dt.isComputeFloat else { throw bad("dtype \(d) is not float32, float16 or bfloat16") }
            dtype = dt
        } else {
            dtype = nil
        }
        if let value = field("random_seed") {
            guard case .number(_, let integer?) = value, integer >= 0 else { throw bad("random_seed must be a non-negative integer") }  // UInt64(-1) trapped
            seed = UInt64(integer)
        } else {
            seed = 0
        }
    }

    /// A YAML node as a JSON value. Mapping keys must be plain scalars; a quoted or block scalar
    /// is a string; a plain one is null, a bool (YAML 1.1's words, as PyYAML reads them), a decimal
    /// integer or a decimal number, else a string: YAML 1.1's base-60, octal and hex forms stay
    /// strings (a parameter then says it wants a number).
    static func value(_ node: Yams.Node, at path: String, bad: (String) -> RecallError) throws -> JSONValue {
        switch node {
        case let .scalar(scalar):
            guard scalar.style == .plain || scalar.style == .any else { return .string(scalar.string) }
            return plainScalar(scalar.string)
        case let .sequence(items):
            return .array(try items.enumerated().map { i, item in try value(item, at: "\(path)[\(i)]", bad: bad) })
        case let .mapping(pairs):
            // YAML merge keys (`<<: *defaults`, or a list of them) as PyYAML applies them: the
            // merged mappings' keys first, each overridden by the same key given explicitly.
            var merged: [(String, JSONValue)] = []
            var explicit: [(String, JSONValue)] = []
            for (key, item) in pairs {
                if key.tag.description == Tag.Name.merge.rawValue, key.scalar?.string == "<<" {
                    let sources = item.sequence.map(Array.init) ?? [item]
                    for source in sources.reversed() {
                        guard case let .object(members) = try value(source, at: path, bad: bad) else {
                            throw bad("a `<<` merge\(path.isEmpty ? "" : " under \(path)") must name a mapping or a list of mappings")
                        }
                        for member in members { merged.removeAll { $0.0 == member.0 }; merged.append(member) }
                    }
                    continue
                }
                guard let name = key.scalar?.string else { throw bad("a mapping key\(path.isEmpty ? "" : " under \(path)") is not a plain scalar") }
                // A repeated key keeps its last value, as PyYAML does.
                explicit.removeAll { $0.0 == name }
                explicit.append((name, try value(item, at: path.isEmpty ? name : "\(path).\(name)", bad: bad)))
            }
            return .object(merged.filter { m in !explicit.contains { $0.0 == m.0 } } + explicit)
        }
    }

    static func plainScalar(_ text: String) -> JSONValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        // YAML 1.1's words too: mergekit reads its configs with PyYAML, where `normalize: yes` is true.
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return .bool(true)
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return .bool(false)
        default: break
        }
        if let i = Int(text) { return .int(i) }
        // Decimal numbers only (Double() would also take "nan", "inf" and hex floats).
        let numeric = text.allSatisfy { "0123456789+-.eE".contains($0) } && text.contains(where: \.isNumber)
        if numeric, let d = Double(text) { return .number(d, integer: nil) }
        return .string(text)
    }
}
