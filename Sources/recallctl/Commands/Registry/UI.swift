import ArgumentParser
import Foundation
import RecallTensor

struct UICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Open the registry's web pages: a loopback-only bridge to the local daemon's socket, behind a one-run login token.",
        discussion: """
        Listens on 127.0.0.1 only, prints the login address (/login?token=..., new every run) and opens it \
        with $BROWSER or xdg-open when a display is there. Without the token nobody, another local user \
        included, gets past the login page. Runs until interrupted (Ctrl-C). A daemon on TCP serves the \
        pages itself: open its /login?token=... instead.
        """
    )

    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port = 7392

    @Flag(name: .customLong("no-browser"), help: "Only print the address; do not open a browser.")
    var noBrowser = false

    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        try reportingFailures {
            if let url = daemon.url {
                throw ValidationError("a daemon on TCP serves its pages itself: open \(url)/login?token=<the content of its --token-file>")
            }
            let client = try daemon.client()
            // Fail now, with the client's usual message, when no daemon answers on the socket.
            let health = try client.request("GET", "/v1/health")
            guard health.status == 200 else { throw RecallError(.io, health.errorMessage) }
            let bridge = try UIBridge(daemon: client, port: port)
            if daemon.json {
                printJSON(.object([("url", .string(bridge.baseURL + "/ui")), ("login", .string(bridge.loginURL)), ("socket", .string(client.description))]))
            } else {
                print("recallctl ui: the registry on \(client.description), bridged to \(bridge.baseURL) (loopback only)")
                print("open: \(bridge.loginURL)")
            }
            fflush(nil)   // every output stream: C's `stdout` is a global var Swift 6 will not touch
            if !noBrowser, let opened = Self.openBrowser(bridge.loginURL) {
                FileHandle.standardError.write(Data("opened it with \(opened)\n".utf8))
            } else if !noBrowser {
                FileHandle.standardError.write(Data("no browser here (no $BROWSER, or no xdg-open with a display): open the address above\n".utf8))
            }
            bridge.serve()
        }
    }

    /// Starts $BROWSER, else xdg-open when a display exists; returns what ran, nil when nothing could.
    static func openBrowser(_ url: String) -> String? {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let b = env["BROWSER"], !b.isEmpty { candidates += b.split(separator: ":").map(String.init) }
        if (env["DISPLAY"].map { !$0.isEmpty } ?? false) || (env["WAYLAND_DISPLAY"].map { !$0.isEmpty } ?? false) { candidates.append("xdg-open") }
        let path = (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in candidates {
            let exe = name.hasPrefix("/") ? name : path.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let exe, FileManager.default.isExecutableFile(atPath: exe) else { continue }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = [url]
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            if (try? p.run()) != nil { return name }
        }
        return nil
    }
}
