import Foundation
import RecallTensor
import RecallService

/// `recallctl ui`'s bridge: a browser cannot open a Unix socket, so this listens on 127.0.0.1
/// only and forwards the web pages' requests (`/`, `/ui`, `/ui/...`; GET and POST with their
/// headers and bodies) to the daemon's socket, streaming the answer back as it comes (server-sent
/// events included).
///
/// Another local user can connect to a loopback port, so the bridge has its own secret: a random
/// 128-bit token printed once in the login address (`/login?token=...`, as Jupyter does). Opening
/// it sets an HttpOnly, SameSite=Strict session cookie (a different random value); every other
/// request without a live session gets a 401 page and never reaches the daemon. The Host header
/// must name the bridge itself (127.0.0.1 or localhost with its port), so a web page on another
/// origin cannot reach it through DNS rebinding. The daemon's forms still carry its CSRF token.
final class UIBridge: @unchecked Sendable {
    static let cookie = "recall_ui_session"
    let daemon: DaemonClient
    let token: String
    private(set) var port = 0
    private let listener: Int32
    private let lock = NSLock()
    private var sessions: [String: Date] = [:]
    static let sessionLifetime: TimeInterval = 43200
    static let sessionLimit = 100

    /// Binds 127.0.0.1:`port` (0: any free port).
    init(daemon: DaemonClient, port requested: Int, token: String = UIBridge.random()) throws {
        self.daemon = daemon
        self.token = token
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RecallError(.io, "cannot create a socket (\(String(cString: strerror(errno))))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(clamping: requested).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw RecallError(.io, "cannot listen on 127.0.0.1:\(requested) (\(why)); pick another --port")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
    }

    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%08x", UInt32.random(in: .min ... .max, using: &g)) }.joined()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var loginURL: String { "\(baseURL)/login?token=\(token)" }

    /// Accepts connections until the process ends; each is served on its own thread.
    func serve() -> Never {
        signal(SIGPIPE, SIG_IGN)
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { if errno != EINTR { usleep(10_000) }; continue }
            Thread.detachNewThread { [self] in
                handle(client)
                close(client)
            }
        }
    }

    // MARK: One connection

    struct RequestHead {
        var method = "", target = ""
        var headers: [(name: String, value: String)] = []
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name }?.value }
        var path: String { String(target.prefix { $0 != "?" }) }
        func query(_ key: String) -> String? {
            guard let q = target.firstIndex(of: "?") else { return nil }
            for pair in target[target.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == key { return String(kv[1]).removingPercentEncoding }
            }
            return nil
        }
    }

    private func handle(_ client: Int32) {
        // A client that sends nothing for 30 s loses its thread (the answer itself may stream longer).
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let (head, rest) = readHead(client) else { return respond(client, 400, "Bad request", "<p>Malformed HTTP request.</p>") }
        let host = head.header("host") ?? ""
        guard host == "127.0.0.1:\(port)" || host == "localhost:\(port)" else {
            return respond(client, 421, "Wrong host", "<p>This bridge answers only requests for 127.0.0.1:\(port) or localhost:\(port).</p>")
        }
        if head.path == "/login" {
            guard let given = head.query("token"), Self.constantTimeEqual(Array(given.utf8), Array(token.utf8)) else {
                return respond(client, 401, "Log in", Self.loginHelp(failed: head.query("token") != nil))
            }
            let session = openSession()
            return respond(client, 303, "See other", "", extra: [
                "Location: /ui",
                "Set-Cookie: \(Self.cookie)=\(session); Path=/; Max-Age=\(Int(Self.sessionLifetime)); HttpOnly; SameSite=Strict",
            ])
        }
        guard hasSession(head) else { return respond(client, 401, "Log in", Self.loginHelp(failed: false)) }
        let path = head.path
        guard path == "/" || path == "/ui" || path.hasPrefix("/ui/") else {
            return respond(client, 404, "Not here", "<p>The bridge serves the registry's pages only (<a href=\"/ui\">/ui</a>); the API stays on the daemon's socket.</p>")
        }
        guard ["GET", "POST"].contains(head.method) else {
            return respond(client, 405, "Method not allowed", "<p>\(head.method) is not used by the pages.</p>")
        }
        if head.header("transfer-encoding") != nil {
            return respond(client, 411, "Length required", "<p>Send the body with a Content-Length.</p>")
        }
        let length = Int(head.header("content-length") ?? "0") ?? -1
        guard length >= 0, length <= 1 << 20 else { return respond(client, 413, "Too large", "<p>The pages' forms are small; this body is not.</p>") }
        forward(client, head, bodyStart: rest, length: length)
    }

    /// Reads up to the blank line that ends the head (64 KiB at most); returns the head and what
    /// followed it.
    private func readHead(_ fd: Int32) -> (RequestHead, Data)? {
        var buffer = Data()
        let end = Data("\r\n\r\n".utf8)
        var chunk = [UInt8](repeating: 0, count: 16384)
        while buffer.range(of: end) == nil {
            guard buffer.count < 65536 else { return nil }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
        let r = buffer.range(of: end)!
        let lines = String(decoding: buffer[buffer.startIndex..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let first = lines[0].split(separator: " ")
        guard first.count == 3, first[2].hasPrefix("HTTP/1."), first[1].hasPrefix("/") else { return nil }
        var head = RequestHead(method: String(first[0]), target: String(first[1]))
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            head.headers.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                                 String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        return (head, Data(buffer[r.upperBound...]))
    }

    /// Headers that describe one hop (or carry the bridge's own cookie) and are not passed on.
    static let hopHeaders: Set<String> = ["host", "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
                                         "upgrade", "cookie", "authorization", "expect"]

    private func forward(_ client: Int32, _ head: RequestHead, bodyStart: Data, length: Int) {
        let upstream: Int32
        do { upstream = try daemon.connect() } catch {
            return respond(client, 502, "Daemon not answering", "<p>\(SVGCharts.escape((error as? RecallError)?.message ?? "\(error)"))</p>")
        }
        defer { close(upstream) }
        var lines = ["\(head.method) \(head.target) HTTP/1.1", "Host: recall-registry", "Connection: close"]
        for h in head.headers where !Self.hopHeaders.contains(h.name.lowercased()) { lines.append("\(h.name): \(h.value)") }
        do {
            try daemon.send(upstream, Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
            var remaining = length
            var first = bodyStart.prefix(remaining)
            while remaining > 0 {
                if first.isEmpty {
                    var chunk = [UInt8](repeating: 0, count: min(65536, remaining))
                    let n = recv(client, &chunk, chunk.count, 0)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return }
                    first = Data(chunk[0..<n])
                }
                try daemon.send(upstream, first)
                remaining -= first.count
                first = Data()
            }
        } catch {
            return respond(client, 502, "Daemon not answering", "<p>Lost the daemon while sending the request.</p>")
        }
        // The answer: its head with our own Connection header, then every byte as it arrives (SSE).
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        let end = Data("\r\n\r\n".utf8)
        while buffer.range(of: end) == nil {
            let n = recv(upstream, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0, buffer.count < 65536 else { return respond(client, 502, "Daemon not answering", "<p>The daemon closed the connection without an answer.</p>") }
            buffer.append(contentsOf: chunk[0..<n])
        }
        let r = buffer.range(of: end)!
        let answer = String(decoding: buffer[buffer.startIndex..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let kept = answer.filter { line in
            let name = line.prefix { $0 != ":" }.lowercased()
            return name != "connection" && name != "keep-alive"
        }
        guard writeAll(client, Data(((kept + ["Connection: close"]).joined(separator: "\r\n") + "\r\n\r\n").utf8) + buffer[r.upperBound...]) else { return }
        // Wait on both sides: a browser that leaves an event stream is noticed at once (its side
        // becomes readable at EOF), and closing the daemon side then ends the stream there.
        var fds = [pollfd(fd: upstream, events: Int16(POLLIN), revents: 0), pollfd(fd: client, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return }
            if fds[1].revents != 0 {
                var probe: UInt8 = 0
                let n = recv(client, &probe, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return }
                if n > 0 { fds[1].events = 0 } // a pipelined request: not ours to read; stop watching that side
            }
            if fds[0].revents != 0 {
                let n = recv(upstream, &chunk, chunk.count, 0)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                guard writeAll(client, Data(chunk[0..<n])) else { return } // the browser left: closing the daemon side ends its stream
            }
        }
    }

    @discardableResult
    private func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    private func respond(_ fd: Int32, _ status: Int, _ title: String, _ body: String, extra: [String] = []) {
        let html = body.isEmpty ? "" : "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>\(title) - recallctl ui</title></head><body><h1>\(title)</h1>\(body)</body></html>\n"
        let bytes = Data(html.utf8)
        var lines = ["HTTP/1.1 \(status) \(title)", "Content-Type: text/html; charset=utf-8", "Content-Length: \(bytes.count)",
                     "Cache-Control: no-store", "Connection: close", "Content-Security-Policy: default-src 'none'; img-src data:"]
        lines += extra
        writeAll(fd, Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + bytes)
    }

    static func loginHelp(failed: Bool) -> String {
        (failed ? "<p><strong>That is not this bridge's token.</strong></p>" : "")
            + "<p>Open the login address <code>recallctl ui</code> printed when it started (<code>/login?token=…</code>); "
            + "the token is new each time the bridge starts.</p>"
    }

    // MARK: Sessions

    private func openSession() -> String {
        let id = Self.random()
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        sessions = sessions.filter { $0.value > now }
        while sessions.count >= Self.sessionLimit, let oldest = sessions.min(by: { $0.value < $1.value })?.key { sessions[oldest] = nil }
        sessions[id] = now.addingTimeInterval(Self.sessionLifetime)
        return id
    }

    private func hasSession(_ head: RequestHead) -> Bool {
        for (name, value) in head.headers where name.lowercased() == "cookie" {
            for part in value.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0] == Self.cookie else { continue }
                let candidate = Array(kv[1].utf8)
                lock.lock(); defer { lock.unlock() }
                let now = Date()
                // Compare with every live session in constant time per comparison.
                if sessions.contains(where: { $0.value > now && Self.constantTimeEqual(Array($0.key.utf8), candidate) }) { return true }
            }
        }
        return false
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }
}
