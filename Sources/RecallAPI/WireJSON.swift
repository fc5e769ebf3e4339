import Foundation

/// How the daemon writes a reply type: one encoder, so the routes, the job watch stream, the
/// jobs page's events and the tests produce the same bytes for the same answer.
public enum WireJSON {
    /// Keys sorted (JSONEncoder's own order changes from run to run, and the same answer should
    /// be the same bytes); slashes (paths) left unescaped; compact (one line, as NDJSON needs).
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// `encode` as text.
    public static func string(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
