import Foundation
import Hummingbird
import RecallService

/// The HTTP API (documented in docs/openapi.yaml; a test checks the two agree). Each handler
/// parses, hands blocking work to `API.blocking`, and answers JSON.
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

    /// Every route as (method, path) in the router's syntax, for the OpenAPI check.
    static let table: [(String, String)] = [
        ("GET", "/v1/health"), ("GET", "/metrics"), ("GET", "/v1/status"), ("POST", "/v1/init"),
        ("POST", "/v1/uploads"), ("POST", "/v1/register"), ("GET", "/v1/versions"), ("GET", "/v1/versions/{ref}"),
        ("POST", "/v1/rollback"), ("POST", "/v1/tags"), ("POST", "/v1/versions/{ref}/export"),
        ("GET", "/v1/versions/{ref}/files"), ("GET", "/v1/versions/{ref}/files/{name}"),
        ("GET", "/v1/jobs"), ("GET", "/v1/jobs/{id}"), ("GET", "/v1/jobs/{id}/watch"),
        ("POST", "/v1/verify"), ("POST", "/v1/gc"), ("GET", "/v1/evaluations"), ("POST", "/v1/versions/{ref}/eval"),
    ]

    /// The methods `table` serves at a concrete path (`{name}` matches one segment), in the table's order.
    static func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return table.filter { _, template in
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == segments.count && zip(parts, segments).allSatisfy { part, segment in
                part.hasPrefix("{") ? !segment.isEmpty : part == segment
            }
        }.map(\.0)
    }

    func handle(_ work: @escaping @Sendable () async throws -> Response) async -> Response {
        do { return try await work() } catch { return API.error(error) }
    }

    func add(to router: Router<BasicRequestContext>) {
        addAdminRoutes(to: router)
        addModelsRoutes(to: router)
        addVersionsRoutes(to: router)
        addJobsRoutes(to: router)
    }
}
