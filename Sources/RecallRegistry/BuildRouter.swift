import Hummingbird
import Logging
import RecallService

/// What every listener of the daemon is built from: the registry and the daemon's settings.
struct DaemonConfiguration: Sendable {
    let registry: Registry
    var limits = Routes.Limits()
    var metrics = Metrics()
    /// Login sessions of the web pages (on TCP).
    var sessions: UISessions
    /// The bearer token TCP clients send (empty: no TCP).
    var token: String
    /// The server's log (requests, start and stop).
    var logger = Logger(label: "recall-registry")
}

/// Where a listener serves: the 0600 Unix socket (same user: paths allowed, no token) or TCP
/// (bearer token or login cookie; clients send and receive bytes only).
enum Transport: Sendable {
    case unixSocket(path: String)
    case tcp(host: String, port: Int)

    /// Served to clients that may be on another machine (TCP).
    var isRemote: Bool {
        if case .tcp = self { return true }
        return false
    }

    var address: BindAddress {
        switch self {
        case let .unixSocket(path): return .unixDomainSocket(path: path)
        case let .tcp(host, port): return .hostname(host, port: port)
        }
    }
}

/// One listener as `recall-registry serve` runs it.
typealias DaemonApplication = Application<RouterResponder<BasicRequestContext>>

/// The application of one listener: `transport`'s router bound to its address. `serve` runs one
/// per transport; the in-process tests drive the same application with HummingbirdTesting
/// (`app.test(.router)`, nothing bound). `onServerRunning` runs once the listener is bound.
func buildApplication(_ daemon: DaemonConfiguration, transport: Transport,
                      onServerRunning: @escaping @Sendable () async -> Void = {}) -> DaemonApplication {
    Application(router: buildRouter(daemon, transport: transport), configuration: .init(address: transport.address),
                onServerRunning: { _ in await onServerRunning() }, logger: daemon.logger)
}

/// The whole HTTP surface for one transport: logging and metrics, the token check on TCP, the
/// API (registered from `Routes.table`) and the web pages.
func buildRouter(_ daemon: DaemonConfiguration, transport: Transport) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestLogMiddleware(metrics: daemon.metrics))
    let remote = transport.isRemote
    if remote { router.add(middleware: BearerTokenMiddleware(token: Array(daemon.token.utf8), sessions: daemon.sessions)) }
    var routes = Routes(registry: daemon.registry, limits: daemon.limits, metrics: daemon.metrics)
    routes.remote = remote
    routes.add(to: router)
    UIRoutes(registry: daemon.registry, sessions: daemon.sessions, remote: remote).add(to: router)
    return router
}
