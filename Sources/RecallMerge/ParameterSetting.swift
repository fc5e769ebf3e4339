import Foundation
import RecallTensor

/// A merge parameter as mergekit spells it: a scalar, a gradient over the layers (a list of
/// numbers interpolated by layer position), or a list of conditions (`filter` matched as a
/// substring of the tensor name, first match wins; no filter or `*` matches everything).
public indirect enum ParameterSetting: Equatable, Sendable {
    case scalar(Double)
    case gradient([Double])
    case conditional([Condition])

    public struct Condition: Equatable, Sendable {
        public var filter: String?
        public var value: ParameterSetting
        public init(filter: String?, value: ParameterSetting) {
            self.filter = filter
            self.value = value
        }
    }

    /// The value for `tensorName` at layer position `t` in [0, 1] (0 for tensors outside the
    /// decoder layers, as mergekit evaluates embeddings, final norm and lm_head).
    public func value(for tensorName: String, t: Double) -> Double? {
        switch self {
        case let .scalar(v):
            return v
        case let .gradient(points):
            guard !points.isEmpty else { return nil }
            let scaled = t * Double(points.count - 1)
            let i0 = Int(scaled)
            let i1 = min(points.count - 1, i0 + 1)
            let frac = scaled - Double(i0)
            return (1 - frac) * points[i0] + frac * points[i1]
        case let .conditional(conditions):
            for c in conditions where c.filter == nil || c.filter == "*" || tensorName.contains(c.filter!) {
                return c.value.value(for: tensorName, t: t)
            }
            return nil
        }
    }
}

extension ParameterSetting: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public init(floatLiteral value: Double) { self = .scalar(value) }
    public init(integerLiteral value: Int) { self = .scalar(Double(value)) }
}

/// Where a tensor sits in the stack: `t` = layer / (layers - 1) for `model.layers.N.*`, else 0.
public func layerPosition(of tensorName: String, layerCount: Int) -> Double {
    guard let n = layerIndex(of: tensorName), layerCount > 1 else { return layerIndex(of: tensorName) == nil ? 0 : 1 }
    return Double(n) / Double(layerCount - 1)
}

/// `N` of a `...layers.N....` tensor name, if it is one.
public func layerIndex(of tensorName: String) -> Int? {
    guard let r = tensorName.range(of: "layers.") else { return nil }
    let digits = tensorName[r.upperBound...].prefix { $0.isNumber }
    return digits.isEmpty ? nil : Int(digits)
}

extension ParameterSetting {
    /// Decodes mergekit's spellings: a number or bool, a list of numbers (gradient), or a list of
    /// `{filter, value}` conditions. `field` names the parameter in errors.
    public init(json: JSONValue, field: String) throws {
        switch json {
        case let .number(d, _): self = .scalar(d)
        case let .bool(b): self = .scalar(b ? 1 : 0)
        case let .array(items) where !items.isEmpty && items.allSatisfy({ $0.doubleValue != nil }):
            self = .gradient(items.compactMap(\.doubleValue))
        case let .array(items) where !items.isEmpty && items.allSatisfy({ $0.objectValue != nil }):
            self = .conditional(try items.map { item in
                guard let value = item["value"] else {
                    throw RecallError(.invalidArgument, "parameter \(field): every condition needs a value")
                }
                return Condition(filter: item["filter"]?.stringValue, value: try ParameterSetting(json: value, field: field))
            })
        default:
            throw RecallError(.invalidArgument, "parameter \(field): expected a number, a list of numbers or a list of {filter, value}")
        }
    }
}
