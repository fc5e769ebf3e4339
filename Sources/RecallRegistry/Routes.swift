import Foundation
import Hummingbird
import RecallService

/// The HTTP API (documented in docs/openapi.yaml; a test checks the two agree). Each handler
/// parses a RecallAPI request, hands blocking work to `API.blocking`, and answers JSON.
struct Routes {
    let registry: Registry
    let limits: Limits
    let metrics: Metrics
    /// Served on TCP: clients send and receive bytes only. No route reads or writes a path the
    /// client names (register takes an upload id, export streams the files, init is refused).
    var remote = false
    /// Uploads being received right now (a bounded number at a time).
    let uploadsInFlight = Counter()

    struct Limits {
        /// JSON request bodies (they carry the samples file).
        var maxJSONBytes = 64 << 20
        /// Streamed model uploads.
        var maxUploadBytes = 64 << 30
        /// Uploads received at once; more get 429 with Retry-After.
        var maxConcurrentUploads = 4
        /// Register jobs waiting in the queue; more get 429 with Retry-After.
        var maxQueuedJobs = 64
    }

    /// Refuses a request that names a path on the daemon's machine when served on TCP.
    func refusePath(_ what: String) throws {
        if remote { throw APIError(.forbidden, "over TCP \(what); a remote client never names a path on the daemon's machine") }
    }

    /// Every operation of the API: the router is registered from this table and nothing else,
    /// the 405 answers read their `Allow` from it, and a test checks it equals the operations
    /// of docs/openapi.yaml. Paths are in OpenAPI syntax (`{ref}`), which the router reads too.
    static let table: [Route] = [
        Route(.get, "/v1/health", \.health), Route(.get, "/metrics", \.metricsText), Route(.get, "/v1/status", \.status),
        Route(.post, "/v1/init", \.initialise), Route(.post, "/v1/verify", \.verify), Route(.post, "/v1/gc", \.gc),
        Route(.post, "/v1/uploads", \.upload), Route(.post, "/v1/register", \.register),
        Route(.get, "/v1/versions", \.versions), Route(.get, "/v1/versions/{ref}", \.version),
        Route(.post, "/v1/rollback", \.rollback), Route(.post, "/v1/tags", \.tag),
        Route(.post, "/v1/versions/{ref}/export", \.export), Route(.get, "/v1/versions/{ref}/files", \.files),
        Route(.get, "/v1/versions/{ref}/files/{name}", \.file), Route(.get, "/v1/evaluations", \.evaluations),
        Route(.post, "/v1/versions/{ref}/eval", \.evaluate),
        Route(.get, "/v1/jobs", \.jobs), Route(.get, "/v1/jobs/{id}", \.job), Route(.get, "/v1/jobs/{id}/watch", \.watchJob),
    ]

    /// The methods `table` serves at a concrete path (`{name}` matches one segment), in the table's order.
    static func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return table.filter { route in
            let parts = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == segments.count && zip(parts, segments).allSatisfy { part, segment in
                part.hasPrefix("{") ? !segment.isEmpty : part == segment
            }
        }.map(\.method.rawValue)
    }

    func handle(_ work: @escaping @Sendable () async throws -> Response) async -> Response {
        do { return try await work() } catch { return API.error(error) }
    }

    /// Registers every operation of `table`, each with this transport's handler.
    func add(to router: Router<BasicRequestContext>) {
        for route in Self.table {
            router.on(RouterPath(route.path), method: route.method, use: self[keyPath: route.handler])
        }
    }
}

/// One operation of the API: method, path and the `Routes` member that handles it (each
/// controller file, Routes+Admin/Models/Versions/Jobs, defines its operations' handlers).
struct Route: Sendable {
    typealias Handler = @Sendable (Request, BasicRequestContext) async -> Response
    let method: HTTPRequest.Method
    let path: String
    let handler: KeyPath<Routes, Handler> & Sendable

    init(_ method: HTTPRequest.Method, _ path: String, _ handler: KeyPath<Routes, Handler> & Sendable) {
        self.method = method
        self.path = path
        self.handler = handler
    }
}
