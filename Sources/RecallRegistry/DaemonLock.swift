import Foundation

/// One daemon per home: an exclusive `flock` on `$RECALL_HOME/daemon.lock`, held for the
/// process's life (the kernel drops it when the process dies, even by kill -9). The file
/// holds the pid, for `recallctl daemon stop` and for the error a second daemon prints.
final class DaemonLock {
    let url: URL
    private let fd: Int32

    init(home: URL) throws {
        url = home.appendingPathComponent("daemon.lock")
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RecallErrorMessage("\(url.path): cannot open the daemon lock (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let pid = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw RecallErrorMessage("another recall-registry (pid \(pid)) already serves \(home.path); stop it first (`recallctl daemon stop`) or use another --home")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit { close(fd) }
}

/// A one-line failure of the daemon's own (not from RecallCore).
struct RecallErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
