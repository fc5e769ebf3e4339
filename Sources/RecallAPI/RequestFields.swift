import RecallTensor

/// Typed reads of a request body's fields. A mistyped or missing field is a `RecallError` of kind
/// `invalidArgument` that names it, which the daemon answers with 400.
extension JSONValue {
    public func string(_ key: String) throws -> String? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw RecallError(.invalidArgument, "field \"\(key)\" must be a string") }
        return s
    }

    public func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw RecallError(.invalidArgument, "field \"\(key)\" is missing") }
        return s
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw RecallError(.invalidArgument, "field \"\(key)\" must be true or false") }
        return b
    }

    /// A non-negative number (points, seconds); `what` says what it counts for the message.
    public func nonNegativeNumber(_ key: String, what: String) throws -> Double? {
        guard let v = self[key], !v.isNull else { return nil }
        guard let d = v.doubleValue, d >= 0 else { throw RecallError(.invalidArgument, "field \"\(key)\" must be a non-negative number of \(what)") }
        return d
    }

    /// An object of string values (`options`).
    public func stringMap(_ key: String) throws -> [String: String] {
        guard let v = self[key], !v.isNull else { return [:] }
        guard let members = v.objectValue else { throw RecallError(.invalidArgument, "field \"\(key)\" must be an object of strings") }
        var out: [String: String] = [:]
        for (k, value) in members {
            guard let s = value.stringValue else { throw RecallError(.invalidArgument, "field \"\(key)\": \(k) must be a string") }
            out[k] = s
        }
        return out
    }
}
