import ArgumentParser
import Foundation
import Hummingbird
import Logging
import RecallTensor
import RecallStore
import RecallService

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the registry's HTTP/1.1 JSON API on a Unix socket (and on TCP when asked).",
        discussion: """
        The socket is created 0600 (only its owner may talk to it). With --listen, TCP is served too and every \
        TCP request needs `Authorization: Bearer <token>` with the token from --token-file. SIGTERM/SIGINT stop \
        taking requests, let the running merge job finish (up to the shutdown timeout; an unfinished job resumes \
        on the next start) and exit 0.
        """
    )

    @Option(help: "Registry home (store/, registry.sqlite). Default: $RECALL_HOME, else ~/.recall.")
    var home: String?

    @Option(help: "Unix socket path. Default: $RECALL_SOCKET, else HOME/recall.sock.")
    var socket: String?

    @Option(help: "Also serve TCP on HOST:PORT (needs --token-file).")
    var listen: String?

    @Option(name: .customLong("token-file"), help: "File holding the bearer token TCP clients must send.")
    var tokenFile: String?

    @Option(help: "JSON settings file: max_body_bytes, max_upload_bytes, shutdown_timeout_seconds, log_level.")
    var config: String?

    @Option(name: .customLong("max-body"), help: "Largest JSON request body in bytes (default 64 MiB).")
    var maxBody: Int?

    @Option(name: .customLong("max-upload"), help: "Largest streamed model upload in bytes (default 64 GiB).")
    var maxUpload: Int?

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds to wait for the running job on SIGTERM (default 60).")
    var shutdownTimeout: Double?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    func run() async throws {
        do {
            try await serve()
        } catch {
            FileHandle.standardError.write(Data("recall-registry: \((error as? RecallError)?.message ?? "\(error)")\n".utf8))
            throw ExitCode(1)
        }
    }

    func serve() async throws {
        var settings = JSONValue.object([])
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw RecallErrorMessage("\(config): cannot read the config file") }
            do { settings = try JSONValue.parse(data) } catch { throw RecallErrorMessage("\(config): not valid JSON (\(error))") }
            let known = ["max_body_bytes", "max_upload_bytes", "shutdown_timeout_seconds", "log_level"]
            for (key, _) in settings.objectValue ?? [] where !known.contains(key) {
                throw RecallErrorMessage("\(config): unknown setting \"\(key)\"; known: \(known.joined(separator: ", "))")
            }
        }
        var limits = Routes.Limits()
        if let v = maxBody ?? settings["max_body_bytes"]?.intValue { limits.maxJSONBytes = v }
        if let v = maxUpload ?? settings["max_upload_bytes"]?.intValue { limits.maxUploadBytes = v }
        let timeout = shutdownTimeout ?? settings["shutdown_timeout_seconds"]?.doubleValue ?? 60
        let levelName = logLevel ?? settings["log_level"]?.stringValue ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw RecallErrorMessage("--log-level '\(levelName)' is not a log level") }

        // A full disk or a file-size limit must fail the write (EFBIG/ENOSPC -> the job fails,
        // the store stays consistent), not kill the daemon with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        let homeURL = home.map { URL(fileURLWithPath: $0) } ?? RegistryStore.defaultHome
        try FileManager.default.createDirectory(at: homeURL, withIntermediateDirectories: true)
        let lock = try DaemonLock(home: homeURL)
        let socketPath = socket ?? ProcessInfo.processInfo.environment["RECALL_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
            ?? homeURL.appendingPathComponent("recall.sock").path
        guard socketPath.utf8.count < 108 else { throw RecallErrorMessage("\(socketPath): socket paths must be shorter than 108 bytes; pass a shorter --socket") }

        var token = ""
        var port = 0, host = ""
        if let listen {
            guard let tokenFile else { throw RecallErrorMessage("--listen needs --token-file: TCP clients must authenticate") }
            guard let raw = FileManager.default.contents(atPath: tokenFile) else { throw RecallErrorMessage("\(tokenFile): cannot read the token file") }
            token = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 16 else { throw RecallErrorMessage("\(tokenFile): the token must be at least 16 characters") }
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let p = Int(parts[1]) else { throw RecallErrorMessage("--listen '\(listen)' must be HOST:PORT, e.g. 127.0.0.1:7391") }
            (host, port) = (String(parts[0]), p)
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = { var l = Logger(label: "recall-registry"); l.logLevel = level; return l }()

        let store = try RegistryStore(home: homeURL)
        // Fault injection for the crash tests: a pause at each job phase so a test can kill the daemon mid-job.
        let phaseDelayMS = ProcessInfo.processInfo.environment["RECALL_JOB_PHASE_DELAY_MS"].flatMap(UInt32.init) ?? 0
        let registry = try Registry(store: store, phaseDelay: Double(phaseDelayMS) / 1000)
        let workerLogger = logger
        registry.log = { workerLogger.info("\($0)") }
        try registry.startWorker()
        let daemon = DaemonConfiguration(registry: registry, limits: limits, metrics: Metrics(),
                                         sessions: UISessions(token: token), token: token, logger: logger)

        // The lock is ours, so a socket file left here is stale (a killed daemon).
        unlink(socketPath)
        // Created 0600 from the start: umask applies to bind().
        let oldMask = umask(0o177)
        var unixApp = buildApplication(daemon, transport: .unixSocket(path: socketPath)) {
            umask(oldMask)
            logger.notice("recall-registry \(RecallVersion.string) serving \(homeURL.path) on \(socketPath)")
        }

        if let listen {
            let tcpApp = buildApplication(daemon, transport: .tcp(host: host, port: port)) {
                logger.notice("also serving TCP on \(listen) (bearer token required)")
                logger.notice("web pages: http://\(listen)/login?token=<the token in \(tokenFile ?? "")>")
            }
            unixApp.addServices(tcpApp)
        }

        try await unixApp.runService()
        logger.notice("shutting down: waiting up to \(Int(timeout)) s for the running job")
        if !registry.stop(timeout: timeout) {
            logger.warning("the running job did not finish in time; it resumes on the next start")
        }
        unlink(socketPath)
        withExtendedLifetime(lock) {}
        logger.notice("stopped")
    }
}
