import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Logs every request with its id, status and duration, and counts it for /metrics.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let metrics: Metrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            // The router's own answers (no such route): JSON like every other error, logged and counted.
            // A path the API has, asked with a method it does not take, is 405 with the methods it does.
            // (HEAD is left a 404: the router does not generate HEAD for GET routes.)
            let allowed = error.status == .notFound && request.method != .head ? Routes.methods(forPath: request.uri.path) : []
            if !allowed.isEmpty {
                response = API.error("\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method); see docs/openapi.yaml",
                                     status: .methodNotAllowed)
                response.headers[.allow] = allowed.joined(separator: ", ")
            } else {
                response = API.error(error.status == .notFound ? "no endpoint \(request.method) \(request.uri.path); see docs/openapi.yaml" : "\(error)",
                                     status: error.status)
            }
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        metrics.countRequest(method: request.method.rawValue, status: response.status.code)
        context.logger.info("\(request.method) \(request.uri.path) -> \(response.status.code) in \(String(format: "%.1f", ms)) ms")
        if let name = HTTPField.Name("X-Request-Id") { response.headers[name] = context.id }
        return response
    }
}

/// On TCP every request needs `Authorization: Bearer <token>`, compared in constant time so the
/// answer's timing does not leak how much of a guess was right, or (web pages) the session
/// cookie `/login?token=...` set. A browser without either gets the login page and nothing else.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: [UInt8]
    var sessions: UISessions? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        if header.hasPrefix(prefix), Self.constantTimeEqual(Array(header.dropFirst(prefix.count).utf8), token) {
            return try await next(request, context)
        }
        let path = request.uri.path
        let page = path == "/" || path == "/ui" || path.hasPrefix("/ui/")
        if let sessions {
            if path == "/login" || (page && sessions.csrf(for: request) != nil) { return try await next(request, context) }
            if page { return UIRoutes.html(UIPages.loginPage(failed: false), status: .unauthorized) }
        }
        return API.error("missing or wrong bearer token", status: .unauthorized,
                         hint: "pass the daemon's token: recallctl --token-file FILE, or Authorization: Bearer TOKEN")
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
