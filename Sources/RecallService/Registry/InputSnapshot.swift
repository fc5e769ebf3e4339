import Foundation
import RecallTensor

/// A model named by a path on the daemon's machine, hard-linked into `incoming/` once the
/// register request has checked it, so the worker reads the very bytes that were checked.
///
/// A model saved again over the same path (a new file renamed into place, or the old one deleted
/// first) leaves the link on the old inode: the job goes on with what was checked. A rewrite in
/// place changes the linked inode too; the fingerprint (size, mtime, inode) taken at the check
/// catches that, and the job is refused. Links cost no copy; where the home and the model are on
/// different filesystems (or a directory holds anything but regular files) there is no link and
/// the job reads the client's path, guarded by the fingerprint alone.
enum InputSnapshot {
    /// Prefix of the snapshots' names in `incoming/` (the sweep of orphans knows it).
    static let prefix = "link-"

    /// Links `url` (a file, or a directory's regular files) into a new `incoming/link-*`
    /// directory; returns the path the worker should read (the linked file, or the directory),
    /// or nil when linking is not possible here (nothing is left behind then).
    static func link(_ url: URL, into incoming: URL) -> URL? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return nil }
        let snapshot = incoming.appendingPathComponent(prefix + UUID().uuidString)
        do {
            try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: false)
            // A shard index names its shards and side files next to it: the whole directory goes.
            let sharded = !isDir.boolValue && url.lastPathComponent.hasSuffix(".index.json")
            if isDir.boolValue || sharded {
                let dir = sharded ? url.deletingLastPathComponent() : url
                for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
                    try linkRegularFile(dir.appendingPathComponent(name), to: snapshot.appendingPathComponent(name))
                }
                return sharded ? snapshot.appendingPathComponent(url.lastPathComponent) : snapshot
            }
            let target = snapshot.appendingPathComponent(url.lastPathComponent)
            try linkRegularFile(url, to: target)
            return target
        } catch {
            try? FileManager.default.removeItem(at: snapshot)
            return nil
        }
    }

    /// The `incoming/link-*` directory `resolved` lies in, if it is a snapshot.
    static func directory(of resolved: URL, incoming: URL) -> URL? {
        let root = incoming.standardizedFileURL.path + "/"
        let path = resolved.standardizedFileURL.path
        guard path.hasPrefix(root), let first = path.dropFirst(root.count).split(separator: "/").first,
              first.hasPrefix(prefix) else { return nil }
        return incoming.appendingPathComponent(String(first))
    }

    private struct NotLinkable: Error {}

    /// A symbolic link (as in a Hugging Face cache snapshot) is followed: the file it names is linked.
    private static func linkRegularFile(_ source: URL, to target: URL) throws {
        let file = source.resolvingSymlinksInPath()
        var info = stat()
        guard lstat(file.path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw NotLinkable() }
        guard Foundation.link(file.path, target.path) == 0 else { throw NotLinkable() }
    }
}
