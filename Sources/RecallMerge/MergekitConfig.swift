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
        // Yams' constructor force-unwraps every mapping key as a string and traps on `? [a, b]: 1`.
        if let composed, !Self.scalarKeysOnly(composed) {
            throw RecallError(.invalidFile, "\(url.path): a mapping key is not a plain scalar")
        }
        let node = composed?.any
        guard let root = node as? [String: Any] else { throw RecallError(.invalidFile, "\(url.path): expected a YAML mapping at the top") }
        func bad(_ why: String) -> RecallError { RecallError(.invalidFile, "\(url.path): \(why)") }
        if root["slices"] != nil { throw bad("the slices: form is not supported; list whole models under models:") }
        guard let method = root["merge_method"] as? String else { throw bad("missing merge_method") }
        let dir = url.deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : dir.appendingPathComponent(p).path }
        func params(_ any: Any?, _ where_: String) throws -> [String: ParameterSetting] {
            guard let any else { return [:] }
            guard let map = any as? [String: Any] else { throw bad("\(where_) parameters must be a mapping") }
            var out: [String: ParameterSetting] = [:]
            for (k, v) in map {
                do { out[k] = try ParameterSetting(json: Self.json(v), field: "\(where_) \(k)") } catch let e as RecallError {
                    throw bad(e.message)
                }
            }
            return out
        }
        self.method = method
        basePath = (root["base_model"] as? String).map(resolve)
        guard let list = root["models"] as? [Any], !list.isEmpty else { throw bad("missing models: list") }
        models = try list.enumerated().map { i, entry in
            guard let m = entry as? [String: Any], let path = m["model"] as? String else { throw bad("models[\(i)] needs a model: path") }
            return (resolve(path), try params(m["parameters"], "models[\(i)]"))
        }
        parameters = try params(root["parameters"], "global")
        if let d = root["dtype"] as? String {
            guard let dt = DType(userSpelling: d), dt.isComputeFloat else { throw bad("dtype \(d) is not float32, float16 or bfloat16") }
            dtype = dt
        } else {
            dtype = nil
        }
        switch root["random_seed"] {
        case nil: seed = 0
        case let s as Int where s >= 0: seed = UInt64(s)
        default: throw bad("random_seed must be a non-negative integer")  // UInt64(-1) trapped
        }
    }

    /// Whether every mapping key in `node` is a scalar (all that Yams can construct).
    static func scalarKeysOnly(_ node: Yams.Node) -> Bool {
        if let m = node.mapping {
            return m.allSatisfy { $0.key.scalar != nil && scalarKeysOnly($0.value) }
        }
        if let s = node.sequence { return s.allSatisfy(scalarKeysOnly) }
        return true
    }

    /// YAML scalars and sequences as JSONValue, for `ParameterSetting(json:)`.
    static func json(_ any: Any) -> JSONValue {
        switch any {
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as Double: return .number(d, integer: nil)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map(json))
        case let m as [String: Any]: return .object(m.keys.sorted().map { ($0, json(m[$0]!)) })
        default: return .null
        }
    }
}
