import Foundation
import XCTest
@testable import RecallTensor

/// A real `recall-registry serve` on a temporary home and socket, for integration tests.
/// Stopped (SIGTERM, then SIGKILL) and its home removed at teardown.
final class DaemonHarness {
    let home: URL
    let socket: String
    private(set) var process: Process?
    let logURL: URL
    var extraArguments: [String]

    init(_ test: XCTestCase, home: URL? = nil, arguments: [String] = []) throws {
        let dir = try home ?? makeTemp(test)
        self.home = dir
        // Unix socket paths are limited to 108 bytes: keep it short under /tmp.
        socket = "/tmp/rr-\(UUID().uuidString.prefix(8)).sock"
        logURL = dir.appendingPathComponent("daemon-test.log")
        extraArguments = arguments
        // Strong capture: the harness must outlive the test body so its daemon is always killed.
        let socketPath = socket
        test.addTeardownBlock { [self] in
            stop(signal: SIGKILL)
            unlink(socketPath)
        }
    }

    /// Starts the daemon and waits until it answers /v1/health.
    func start(prefix: [String] = []) throws {
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: log(at: logURL))
        let p = Process()
        let binary = CLI.binDirectory.appendingPathComponent("recall-registry").path
        if prefix.isEmpty {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["serve", "--home", home.path, "--socket", socket] + extraArguments
        } else {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", prefix.joined(separator: " ") + " exec \"$0\" \"$@\"", binary, "serve", "--home", home.path, "--socket", socket] + extraArguments
        }
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if try ctl(["status"]).status == 0 { return }
            if !p.isRunning { throw RecallError(.io, "daemon exited at start: \(self.log)") }
            usleep(50_000)
        }
        throw RecallError(.io, "daemon did not answer within 30 s: \(self.log)")
    }

    private func log(at url: URL) -> URL { url }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to exit.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32? {
        guard let p = process, p.isRunning else { return process?.terminationStatus }
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs recallctl against this daemon.
    func ctl(_ args: [String]) throws -> CLIResult {
        try CLI.run(args + ["--socket", socket])
    }

    /// Runs recallctl and fails the test unless it exits 0.
    @discardableResult
    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        let r = try ctl(args)
        XCTAssertEqual(r.status, 0, "recallctl \(args.joined(separator: " ")) failed: \(r.stderr)\n--- daemon log ---\n\(log.suffix(3000))", file: file, line: line)
        return r
    }

    /// `recallctl ARGS --json` parsed.
    func json(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        let r = try ok(args + ["--json"], file: file, line: line)
        return try JSONValue.parse(Data(r.stdout.utf8), rejectDuplicateKeys: false)
    }
}

/// A tiny registry world: a base HF directory and task experts (the same architecture, weights
/// moved by seeded noise), with a samples file per task.
struct TinyModels {
    let root: URL
    let base: URL

    init(_ test: XCTestCase) throws {
        root = try makeTemp(test)
        base = root.appendingPathComponent("base")
        _ = try makeExpert(base, seed: nil)
    }

    /// An expert as one .safetensors file (like `taskC.st`), or as an HF directory.
    func expert(_ name: String, seed: UInt64, asFile: Bool = true) throws -> URL {
        let dir = root.appendingPathComponent("expert-\(name)")
        _ = try makeExpert(dir, seed: seed)
        guard asFile else { return dir }
        let file = root.appendingPathComponent("\(name).st")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("model.safetensors"), to: file)
        return file
    }

    func samples(_ name: String, texts: [String] = recallTexts) throws -> URL {
        let url = root.appendingPathComponent("\(name).jsonl")
        try Data(texts.map { "{\"text\": \"\(name): \($0)\"}" }.joined(separator: "\n").utf8).write(to: url)
        return url
    }
}

/// A TCP connection to 127.0.0.1:`port` (the caller closes it).
func loopbackConnection(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { close(fd); throw RecallError(.io, "connect to 127.0.0.1:\(port) failed") }
    return fd
}

/// An HTTP answer read off a raw socket: the web-page tests speak HTTP/1.1 by hand, as a browser
/// would, so cookies, redirects and the event stream are seen exactly as sent.
struct RawHTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// Sends `request` (a whole HTTP/1.1 request) on a fresh loopback connection and reads until the
/// server closes it, or only until `until` shows up in what arrived (an endless event stream).
func rawHTTP(port: Int, _ request: String, until: String? = nil) throws -> RawHTTPAnswer {
    let fd = try loopbackConnection(port: port)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data += buffer[0..<n]
        if let until, String(decoding: data, as: UTF8.self).contains(until) { break }
    }
    let parts = String(decoding: data, as: UTF8.self).components(separatedBy: "\r\n\r\n")
    let head = parts[0].components(separatedBy: "\r\n")
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        if let colon = line.firstIndex(of: ":") { headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
    }
    let status = head[0].split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return RawHTTPAnswer(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
}
