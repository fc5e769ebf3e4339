import Foundation
import RecallTensor
import RecallAPI

/// A small blocking HTTP/1.1 client for the daemon's API over its Unix socket or over TCP with a
/// bearer token. One request per connection (`Connection: close`); bodies with Content-Length
/// or chunked transfer encoding (the job watch stream is chunked NDJSON).
struct DaemonClient {
    enum Endpoint {
        case unix(String)
        case tcp(host: String, port: Int, token: String)
    }

    let endpoint: Endpoint

    struct Response {
        let status: Int
        let body: Data
        var json: JSONValue? { try? JSONValue.parse(body, rejectDuplicateKeys: false) }
        /// The daemon's error and hint (`ErrorBody`), or the raw body.
        var errorMessage: String {
            json.flatMap(ErrorBody.init(json:))?.line ?? "daemon answered \(status): \(String(decoding: body.prefix(300), as: UTF8.self))"
        }
    }

    var description: String {
        switch endpoint {
        case let .unix(path): return path
        case let .tcp(host, port, _): return "\(host):\(port)"
        }
    }

    // MARK: Requests

    /// Sends `json` (if any) and returns the whole response.
    func request(_ method: String, _ path: String, json: JSONValue? = nil) throws -> Response {
        let body = json.map { Data($0.serialized().utf8) } ?? Data()
        let connection = try connect()
        defer { close(connection) }
        try send(connection, head(method, path, contentLength: body.count, contentType: json == nil ? nil : "application/json"))
        try send(connection, body)
        var reader = ResponseReader(fd: connection)
        let (status, _) = try reader.readHead()
        var out = Data()
        try reader.readBody { out.append($0); return true }
        return Response(status: status, body: out)
    }

    /// Streams the file at `file` as the request body.
    func upload(_ path: String, file: URL) throws -> Response {
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw RecallError(.notFound, "\(file.path): cannot open for reading")
        }
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        let connection = try connect()
        defer { close(connection) }
        try send(connection, head("POST", path, contentLength: size, contentType: "application/octet-stream"))
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            do { try send(connection, chunk) } catch { break } // the daemon may answer early (413); read it below
        }
        var reader = ResponseReader(fd: connection)
        let (status, _) = try reader.readHead()
        var out = Data()
        try reader.readBody { out.append($0); return true }
        return Response(status: status, body: out)
    }

    /// GETs an NDJSON stream and hands each line to `onLine`; returns the status.
    func streamLines(_ path: String, onLine: (String) -> Void) throws -> Int {
        let connection = try connect()
        defer { close(connection) }
        try send(connection, head("GET", path, contentLength: nil, contentType: nil))
        var reader = ResponseReader(fd: connection)
        let (status, _) = try reader.readHead()
        var pending = Data()
        try reader.readBody { piece in
            pending.append(piece)
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                onLine(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                pending = Data(pending[(nl + 1)...])
            }
            return true
        }
        return status
    }

    /// GETs a body straight into a file.
    func download(_ path: String, to file: URL) throws -> Response {
        let connection = try connect()
        defer { close(connection) }
        try send(connection, head("GET", path, contentLength: nil, contentType: nil))
        var reader = ResponseReader(fd: connection)
        let (status, _) = try reader.readHead()
        guard status == 200 else {
            var out = Data()
            try reader.readBody { out.append($0); return true }
            return Response(status: status, body: out)
        }
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: file.path) else { throw RecallError(.io, "\(file.path): cannot write") }
        // A failed write or close (disk full) must fail the command: a silently short file
        // would look like a complete download.
        func cannotWrite(_ error: Error) -> RecallError {
            RecallError(.io, "\(file.path): cannot write the download (\(error.localizedDescription)); check free space and run the command again")
        }
        do {
            try reader.readBody { try handle.write(contentsOf: $0); return true }
        } catch let error as RecallError {
            try? handle.close()  // the write or read error above is the one to report
            throw error
        } catch {
            try? handle.close()
            throw cannotWrite(error)
        }
        do { try handle.close() } catch { throw cannotWrite(error) }
        return Response(status: status, body: Data())
    }

    // MARK: Wire

    private func head(_ method: String, _ path: String, contentLength: Int?, contentType: String?) -> Data {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: recall-registry", "Connection: close", "User-Agent: recallctl/\(RecallVersion.string)"]
        if let contentLength { lines.append("Content-Length: \(contentLength)") }
        if let contentType { lines.append("Content-Type: \(contentType)") }
        if case let .tcp(_, _, token) = endpoint { lines.append("Authorization: Bearer \(token)") }
        return Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    private func notAnswering(_ why: String) -> RecallError {
        switch endpoint {
        case let .unix(path):
            return RecallError(.notFound, "no recall-registry answers on \(path) (\(why)); start one with `recallctl daemon start` or `recall-registry serve`, or point --socket / RECALL_SOCKET at it")
        case let .tcp(host, port, _):
            return RecallError(.notFound, "no recall-registry answers on \(host):\(port) (\(why)); check --url and that the daemon runs with --listen")
        }
    }

    /// A connected socket to the daemon (the caller closes it); the UI bridge uses it too.
    func connect() throws -> Int32 {
        switch endpoint {
        case let .unix(path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw RecallError(.io, "cannot create a socket (\(String(cString: strerror(errno))))") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                close(fd)
                throw RecallError(.invalidArgument, "\(path): socket path too long (108 bytes at most)")
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                throw notAnswering(why)
            }
            return fd
        case let .tcp(host, port, _):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                throw RecallError(.notFound, "cannot resolve host \(host)")
            }
            defer { freeaddrinfo(result) }
            var lastError = "no address"
            var info: UnsafeMutablePointer<addrinfo>? = first
            while let ai = info {
                let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
                if fd >= 0 {
                    if Foundation.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
                    lastError = String(cString: strerror(errno))
                    close(fd)
                }
                info = ai.pointee.ai_next
            }
            throw notAnswering(lastError)
        }
    }

    func send(_ fd: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RecallError(.io, "lost the connection to the daemon while sending (\(String(cString: strerror(errno))))")
                }
                offset += n
            }
        }
    }
}

/// Reads one HTTP/1.1 response from a socket: status line, headers, then the body by
/// Content-Length, chunked encoding, or until the connection closes.
struct ResponseReader {
    let fd: Int32
    private var buffer = Data()
    private var eof = false
    private var headers: [String: String] = [:]

    init(fd: Int32) { self.fd = fd }

    private mutating func fill() throws -> Bool {
        guard !eof else { return false }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw RecallError(.io, "lost the connection to the daemon (\(String(cString: strerror(errno))))") }
            if n == 0 { eof = true; return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    private mutating func line() throws -> String {
        while true {
            if let r = buffer.range(of: Data("\r\n".utf8)) {
                let text = String(decoding: buffer[buffer.startIndex..<r.lowerBound], as: UTF8.self)
                buffer = Data(buffer[r.upperBound...])
                return text
            }
            guard try fill() else { throw RecallError(.io, "the daemon closed the connection mid-response") }
        }
    }

    mutating func readHead() throws -> (status: Int, headers: [String: String]) {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw RecallError(.io, "the daemon sent a malformed status line: \(statusLine.prefix(80))")
        }
        while true {
            let l = try line()
            if l.isEmpty { break }
            if let colon = l.firstIndex(of: ":") {
                headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (status, headers)
    }

    /// Calls `sink` with body pieces as they arrive.
    mutating func readBody(_ sink: (Data) throws -> Bool) throws {
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try line()
                // `split` drops empty pieces: an empty line has no first piece (was a trap).
                let sizeField = sizeLine.split(separator: ";", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                guard let size = Int(sizeField.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                    throw RecallError(.io, "the daemon sent a malformed chunk size")
                }
                if size == 0 { return }
                while buffer.count < size + 2 { guard try fill() else { throw RecallError(.io, "the daemon closed the connection mid-chunk") } }
                _ = try sink(Data(buffer.prefix(size)))
                buffer = Data(buffer.dropFirst(size + 2))
            }
        }
        if let length = headers["content-length"].flatMap(Int.init) {
            var remaining = length
            while remaining > 0 {
                if buffer.isEmpty { guard try fill() else { throw RecallError(.io, "the daemon closed the connection mid-body") } }
                let piece = buffer.prefix(remaining)
                remaining -= piece.count
                buffer = Data(buffer.dropFirst(piece.count))
                _ = try sink(Data(piece))
            }
            return
        }
        if !buffer.isEmpty { _ = try sink(buffer); buffer = Data() }
        while try fill() { _ = try sink(buffer); buffer = Data() }
    }
}
