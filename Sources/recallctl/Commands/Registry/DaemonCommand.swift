import ArgumentParser
import Foundation
import RecallTensor
import RecallStore
import RecallService

struct DaemonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Start or stop a recall-registry in the background.",
        subcommands: [Start.self, Stop.self]
    )

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start `recall-registry serve` in the background (log: HOME/daemon.log, pid in HOME/daemon.pid).")

        @Option(help: "Registry home (default: $RECALL_HOME, else ~/.recall).")
        var home: String?

        @Option(help: "Unix socket (default: HOME/recall.sock).")
        var socket: String?

        @Option(help: "Seconds to wait for the daemon to answer.")
        var timeout: Double = 30

        @Option(parsing: .remaining, help: "Further arguments for `recall-registry serve` (after --).")
        var serveArguments: [String] = []

        func run() throws {
            try reportingFailures {
                let homeURL = home.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? RegistryStore.defaultHome
                try FileManager.default.createDirectory(at: homeURL, withIntermediateDirectories: true)
                let socketPath = socket ?? homeURL.appendingPathComponent("recall.sock").path
                let client = DaemonClient(endpoint: .unix(socketPath))
                if (try? client.request("GET", "/v1/health"))?.status == 200 {
                    print("a recall-registry already answers on \(socketPath)")
                    return
                }
                let binary = siblingBinary("recall-registry")
                let log = homeURL.appendingPathComponent("daemon.log")
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                let handle = try FileHandle(forWritingTo: log)
                try handle.seekToEnd()
                let p = Process()
                p.executableURL = binary
                p.arguments = ["serve", "--home", homeURL.path, "--socket", socketPath] + serveArguments
                p.standardOutput = handle
                p.standardError = handle
                p.standardInput = FileHandle.nullDevice
                try p.run()
                try "\(p.processIdentifier)\n".write(to: homeURL.appendingPathComponent("daemon.pid"), atomically: true, encoding: .utf8)
                let deadline = Date().addingTimeInterval(timeout)
                while Date() < deadline {
                    if (try? client.request("GET", "/v1/health"))?.status == 200 {
                        print("recall-registry started (pid \(p.processIdentifier)) on \(socketPath); log: \(log.path)")
                        return
                    }
                    if !p.isRunning {
                        let tail = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? ""
                        throw RecallError(.io, "recall-registry exited at start: \(tail)")
                    }
                    usleep(100_000)
                }
                throw RecallError(.io, "recall-registry did not answer on \(socketPath) within \(Int(timeout)) s; see \(log.path)")
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the background daemon (SIGTERM: the running job finishes first).")

        @Option(help: "Registry home (default: $RECALL_HOME, else ~/.recall).")
        var home: String?

        @Option(help: "Seconds to wait for it to exit.")
        var timeout: Double = 120

        func run() throws {
            try reportingFailures {
                let homeURL = home.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? RegistryStore.defaultHome
                // daemon.lock holds the pid of whichever daemon owns the home (also one started by hand).
                let pidText = (try? String(contentsOf: homeURL.appendingPathComponent("daemon.lock"), encoding: .utf8))
                    ?? (try? String(contentsOf: homeURL.appendingPathComponent("daemon.pid"), encoding: .utf8))
                guard let pid = pidText.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }), pid > 0, kill(pid, 0) == 0 else {
                    print("no recall-registry is running for \(homeURL.path)")
                    return
                }
                kill(pid, SIGTERM)
                let deadline = Date().addingTimeInterval(timeout)
                while Date() < deadline, kill(pid, 0) == 0 {
                    // Reap it if it is our child (it is not, normally); otherwise just wait.
                    var status: Int32 = 0
                    _ = waitpid(pid, &status, WNOHANG)
                    usleep(100_000)
                }
                guard kill(pid, 0) != 0 else { throw RecallError(.io, "recall-registry (pid \(pid)) did not stop within \(Int(timeout)) s") }
                try? FileManager.default.removeItem(at: homeURL.appendingPathComponent("daemon.pid"))
                print("recall-registry (pid \(pid)) stopped")
            }
        }
    }
}

/// A binary installed next to recallctl (the build directory, or the same bin/), else from PATH.
func siblingBinary(_ name: String) -> URL {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let sibling = me.deletingLastPathComponent().appendingPathComponent(name)
    if FileManager.default.isExecutableFile(atPath: sibling.path) { return sibling }
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return sibling
}
