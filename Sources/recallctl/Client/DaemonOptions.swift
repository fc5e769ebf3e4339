import ArgumentParser
import Foundation
import RecallTensor
import RecallStore

/// How a command finds the daemon: --url (TCP, with --token-file), else --socket, else
/// $RECALL_SOCKET, else $RECALL_HOME/recall.sock (default ~/.recall/recall.sock).
struct DaemonOptions: ParsableArguments {
    @Option(help: "The daemon's Unix socket (default: $RECALL_SOCKET, else $RECALL_HOME/recall.sock).")
    var socket: String?

    @Option(help: "Talk to a daemon over TCP instead, e.g. http://127.0.0.1:7391 (needs --token-file).")
    var url: String?

    @Option(name: .customLong("token-file"), help: "File with the bearer token for --url.")
    var tokenFile: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    var socketPath: String {
        if let socket { return socket }
        if let env = ProcessInfo.processInfo.environment["RECALL_SOCKET"], !env.isEmpty { return env }
        return RegistryStore.defaultHome.appendingPathComponent("recall.sock").path
    }

    func client() throws -> DaemonClient {
        guard let url else { return DaemonClient(endpoint: .unix(socketPath)) }
        guard let parsed = URL(string: url), parsed.scheme == "http", let host = parsed.host, let port = parsed.port else {
            throw ValidationError("--url '\(url)' must look like http://HOST:PORT")
        }
        guard let tokenFile else { throw ValidationError("--url needs --token-file (TCP requests must carry the daemon's token)") }
        guard let raw = FileManager.default.contents(atPath: tokenFile) else {
            throw RecallError(.notFound, "\(tokenFile): cannot read the token file")
        }
        return DaemonClient(endpoint: .tcp(host: host, port: port, token: String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    var isRemote: Bool { url != nil }
}

extension DaemonClient {
    /// Sends a request and returns its JSON, or throws the daemon's one-line error.
    func call(_ method: String, _ path: String, _ body: JSONValue? = nil) throws -> JSONValue {
        try succeeded(request(method, path, json: body)).json ?? .null
    }

    /// Sends a request and decodes the answer as `Reply`, the daemon's own reply type from
    /// RecallAPI; `json` is the answer as sent (what --json prints).
    func call<Reply: Decodable>(_ method: String, _ path: String, _ body: JSONValue? = nil, as _: Reply.Type) throws -> (reply: Reply, json: JSONValue) {
        let r = try succeeded(request(method, path, json: body))
        do {
            return (try JSONDecoder().decode(Reply.self, from: r.body), r.json ?? .null)
        } catch {
            throw RecallError(.mismatch, "the daemon's answer to \(method) \(path) is not what recallctl expects (\(Self.reason(error))); use a recallctl and recall-registry of the same version")
        }
    }

    private func succeeded(_ r: Response) throws -> Response {
        guard (200..<300).contains(r.status) else { throw RecallError(r.status == 404 ? .notFound : .invalidArgument, r.errorMessage) }
        return r
    }

    /// What a `DecodingError` says, in one line naming the field.
    private static func reason(_ error: Error) -> String {
        func field(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error as? DecodingError {
        case let .keyNotFound(key, context)?: return "field \"\(field(context.codingPath + [key]))\" is missing"
        case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?: return "field \"\(field(context.codingPath))\" has the wrong type"
        default: return "not a JSON object"
        }
    }
}

/// Percent-encodes one path segment (version refs and tag names are user text).
func pathSegment(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
}
