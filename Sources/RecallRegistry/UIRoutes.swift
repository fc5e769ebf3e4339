import Foundation
import Hummingbird
import RecallTensor
import RecallService
import RecallAPI

/// The registry's web pages, next to the API: lineage (`/ui`), a version (`/ui/versions/{ref}`,
/// with rollback, tag and its files as downloads), the accuracy matrix (`/ui/matrix`), jobs with live progress
/// (`/ui/jobs`, server-sent events) and the store (`/ui/store`). Server-rendered HTML with inline
/// SVG (RecallCore/Report), every asset in the binary, a few lines of script only for the live
/// jobs table. Not part of the JSON API (docs/openapi.yaml).
///
/// On TCP a browser logs in once with `/login?token=...` (the daemon's token, as Jupyter does):
/// that sets an HttpOnly, SameSite=Strict session cookie; every form carries the session's CSRF
/// token and a POST without it is refused.
struct UIRoutes {
    let registry: Registry
    let sessions: UISessions
    /// Served on TCP (sessions and CSRF apply); on the Unix socket the daemon-wide token is used.
    var remote = false

    func add(to router: Router<BasicRequestContext>) {
        let registry = self.registry, sessions = self.sessions, remote = self.remote
        @Sendable func page(_ body: @escaping @Sendable (Request) throws -> String) -> @Sendable (Request, BasicRequestContext) async -> Response {
            { request, _ in
                do {
                    let html = try await API.blocking { try body(request) }
                    return Self.html(html)
                } catch {
                    return Self.html(UIPages.errorPage(error), status: .badRequest)
                }
            }
        }
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui"]) }
        router.get("/ui", use: page { _ in try UIPages(registry: registry).lineage() })
        router.get("/ui/matrix", use: page { _ in try UIPages(registry: registry).matrix() })
        router.get("/ui/store", use: page { _ in try UIPages(registry: registry).storePage() })
        router.get("/ui/jobs", use: page { _ in try UIPages(registry: registry).jobs() })
        router.get("/ui/versions/:ref") { request, context in
            let ref = context.parameters.get("ref") ?? "head"
            let csrf = remote ? sessions.csrf(for: request) ?? "" : sessions.localCSRF
            return await page { _ in try UIPages(registry: registry).version(ref, csrf: csrf) }(request, context)
        }
        // Export from the page: the version's files as downloads through the session (the same
        // bytes as GET /v1/versions/{ref}/files/{name}, which a browser cannot call: it has no bearer token).
        router.get("/ui/versions/:ref/files/:name") { _, context in
            do {
                let ref = try context.parameters.require("ref"), name = try context.parameters.require("name")
                var response = try await API.blocking { try Routes.fileResponse(registry, ref: ref, name: name) }
                let safe = name.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }
                response.headers[.contentDisposition] = "attachment; filename=\"\(safe)\""
                return response
            } catch {
                // The API's status for the same failure (404 a missing file, 500 store damage, 507 a full disk).
                return Self.html(UIPages.errorPage(error), status: API.error(error).status)
            }
        }
        router.post("/ui/versions/:ref/:action") { request, context in
            do {
                let form = try await Self.form(request)
                let expected = remote ? sessions.csrf(for: request) : sessions.localCSRF
                guard let expected, let sent = form["csrf"], BearerTokenMiddleware.constantTimeEqual(Array(sent.utf8), Array(expected.utf8)) else {
                    return Self.html(UIPages.errorPage(RecallError(.invalidArgument, "the form's CSRF token is missing or wrong; reload the page and try again")), status: .forbidden)
                }
                let ref = context.parameters.get("ref") ?? "", action = context.parameters.get("action") ?? ""
                // The same registry calls as POST /v1/rollback and /v1/tags.
                let number = try await API.blocking { () -> Int in
                    switch action {
                    case "rollback": return try registry.rollback(to: ref)
                    case "tag":
                        guard let name = form["name"], !name.isEmpty else { throw RecallError(.invalidArgument, "a tag needs a name") }
                        return try registry.tag(name, version: ref)
                    default: throw RecallError(.invalidArgument, "no action \(action); use rollback or tag")
                    }
                }
                return Response(status: .seeOther, headers: [.location: "/ui/versions/\(number)"])
            } catch {
                return Self.html(UIPages.errorPage(error), status: .badRequest)
            }
        }
        router.get("/ui/jobs/events") { _, _ in Self.jobEvents(registry) }
        if remote {
            router.get("/login") { request, _ in
                guard let token = request.uri.queryParameters.get("token"), sessions.checkToken(token) else {
                    return Self.html(UIPages.loginPage(failed: request.uri.queryParameters.get("token") != nil), status: .unauthorized)
                }
                let session = sessions.open()
                return Response(status: .seeOther, headers: [
                    .location: "/ui",
                    .setCookie: "\(UISessions.cookie)=\(session); Path=/; Max-Age=43200; HttpOnly; SameSite=Strict",
                ])
            }
        }
    }

    /// The jobs page's server-sent events: one `jobs` event whenever a job changes (state, phase,
    /// progress); ends after 10 minutes. The list is read when the registry's job stream says
    /// something changed. A comment line every 5 s when nothing changed, so a reader that went
    /// away is noticed (the write fails) instead of holding the stream open to the end.
    static func jobEvents(_ registry: Registry) -> Response {
        let body = ResponseBody { writer in
            enum Wake: Sendable { case changed, tick }
            let (wakes, wake) = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(2))
            let changes = registry.jobChanges()
            let follower = Task { for await _ in changes { wake.yield(.changed) }; wake.finish() }
            let ticker = Task { while !Task.isCancelled { try? await Task.sleep(nanoseconds: 5_000_000_000); wake.yield(.tick) } }
            defer { follower.cancel(); ticker.cancel() }
            var last = ""
            let deadline = Date().addingTimeInterval(600)
            var lastWrite = Date.distantPast
            var changed = true  // the first list is sent at once
            var next = wakes.makeAsyncIterator()
            repeat {
                if changed {
                    let json = try await API.blocking { try WireJSON.string(try registry.jobs().prefix(50).map { registry.jobReply($0, hidingPaths: true) }) }
                    if json != last {
                        try await writer.write(ByteBuffer(string: "event: jobs\ndata: \(json)\n\n"))
                        last = json
                        lastWrite = Date()
                    }
                }
                if Date().timeIntervalSince(lastWrite) >= 5 {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = Date()
                }
                guard Date() < deadline, let woke = await next.next() else { break }
                changed = woke == .changed
            } while true
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                           .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        var data = Data()
        for try await buffer in request.body {
            data.append(contentsOf: buffer.readableBytesView)
            if data.count > 65536 { throw RecallError(.invalidArgument, "form body over 64 KiB") }
        }
        var out: [String: String] = [:]
        for pair in String(decoding: data, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if kv.count == 2 { out[kv[0]] = kv[1] }
        }
        return out
    }
}

/// Browser sessions of the TCP listener: session id -> CSRF token, both random 128-bit hex.
final class UISessions: @unchecked Sendable {
    static let cookie = "recall_session"
    private let lock = NSLock()
    /// id -> (CSRF token, expiry); at most `limit` live sessions (the oldest go first).
    private var sessions: [String: (csrf: String, expires: Date)] = [:]
    static let lifetime: TimeInterval = 43200
    static let limit = 1000
    private let token: [UInt8]
    /// The CSRF token of pages served on the Unix socket (same user; no browser reaches it directly).
    let localCSRF = UISessions.random()

    init(token: String) { self.token = Array(token.utf8) }

    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%08x", UInt32.random(in: .min ... .max, using: &g)) }.joined()
    }

    func checkToken(_ candidate: String) -> Bool { !token.isEmpty && BearerTokenMiddleware.constantTimeEqual(Array(candidate.utf8), token) }

    func open() -> String {
        let id = Self.random()
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        sessions = sessions.filter { $0.value.expires > now }
        while sessions.count >= Self.limit, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
            sessions[oldest] = nil
        }
        sessions[id] = (Self.random(), now.addingTimeInterval(Self.lifetime))
        return id
    }

    func session(of request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == Self.cookie { return String(kv[1]) }
            }
        }
        return nil
    }

    /// The CSRF token of the request's session, if it has a live one.
    func csrf(for request: Request) -> String? {
        guard let id = session(of: request) else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let s = sessions[id], s.expires > Date() else { return nil }
        return s.csrf
    }
}
