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
        let r = try request(method, path, json: body)
        guard (200..<300).contains(r.status) else { throw RecallError(r.status == 404 ? .notFound : .invalidArgument, r.errorMessage) }
        return r.json ?? .null
    }
}

/// Percent-encodes one path segment (version refs and tag names are user text).
func pathSegment(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
}
