import RecallTensor

/// The body of every API failure: `{"error": "...", "hint": "..."}`. `error` says what is wrong
/// in one line; `hint`, when there is one, what to do next. The status code says whose fault it
/// is (4xx the request's, 5xx the daemon's).
public struct ErrorBody: Equatable, Sendable {
    public var error: String
    public var hint: String?

    public init(error: String, hint: String? = nil) {
        self.error = error
        self.hint = hint
    }

    /// Reads an error body; nil when `json` is not one (a proxy's page, a truncated answer).
    public init?(json: JSONValue) {
        guard let error = json["error"]?.stringValue else { return nil }
        self.error = error
        hint = json["hint"]?.stringValue
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("error", .string(error))]
        if let hint { members.append(("hint", .string(hint))) }
        return .object(members)
    }

    /// `error`, then `hint` in parentheses: what a command line prints.
    public var line: String { hint.map { "\(error) (\($0))" } ?? error }
}
