import Hummingbird
import RecallService

/// What both of the daemon's routers are built from: the registry and the daemon's settings.
struct DaemonConfiguration: Sendable {
    let registry: Registry
    var limits = Routes.Limits()
    var metrics = Metrics()
    /// Login sessions of the web pages (on TCP).
    var sessions: UISessions
    /// The bearer token TCP clients send (empty: no TCP).
    var token: String
}

/// Where a router serves: the 0600 Unix socket (same user: paths allowed, no token) or TCP
/// (bearer token or login cookie; clients send and receive bytes only).
enum Transport: Sendable { case unixSocket, tcp }

/// The whole HTTP surface for one transport: logging and metrics, the token check on TCP, the
/// API and the web pages. `recall-registry serve` runs one per transport; the in-process tests
/// drive the same router through HummingbirdTesting.
func buildRouter(_ daemon: DaemonConfiguration, transport: Transport) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestLogMiddleware(metrics: daemon.metrics))
    let remote = transport == .tcp
    if remote { router.add(middleware: BearerTokenMiddleware(token: Array(daemon.token.utf8), sessions: daemon.sessions)) }
    var routes = Routes(registry: daemon.registry, limits: daemon.limits, metrics: daemon.metrics)
    routes.remote = remote
    routes.add(to: router)
    UIRoutes(registry: daemon.registry, sessions: daemon.sessions, remote: remote).add(to: router)
    return router
}
