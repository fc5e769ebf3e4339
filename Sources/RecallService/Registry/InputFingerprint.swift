import Foundation
import RecallTensor

/// What a register's model looked like when the request checked it: for a file (or every
/// regular file of a directory, by name) its size, modification time and inode. The worker
/// compares before it reads the model, so a file replaced or rewritten while the job waited is
/// refused instead of stored unchecked. (A content hash would read a 12 GB model a second time;
/// a rewrite keeps neither the same mtime nor usually the same inode.)
enum InputFingerprint {
    static func of(_ url: URL) throws -> JSONValue {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw RecallError(.notFound, "\(url.path): no such file or directory")
        }
        let names = isDir.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: url.path).sorted().map { url.appendingPathComponent($0) }
            : [url]
        return .object(try names.compactMap { file in
            var info = stat()
            guard stat(file.path, &info) == 0 else { throw RecallError(.io, "\(file.path): cannot stat; check its permissions") }
            guard info.st_mode & S_IFMT == S_IFREG else { return nil }
            let mtime = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
            return (file.lastPathComponent, .string("\(info.st_size):\(mtime):\(info.st_ino)"))
        })
    }

    /// Throws when `url` no longer matches `recorded` (jobs queued before fingerprints were
    /// recorded carry none and are not checked); the error names the model as `named` (the
    /// client's path, where `url` may be its hard links in incoming/).
    static func check(_ recorded: JSONValue?, of url: URL, named: String) throws {
        guard let recorded, !recorded.isNull else { return }
        let now = try of(url)
        guard now == recorded else {
            let changed = (recorded.objectValue ?? []).first { name, value in now[name] != value }?.0
                ?? (now.objectValue ?? []).first { recorded[$0.0] == nil }?.0 ?? url.lastPathComponent
            throw RecallError(.invalidFile, "\(named): \(changed) changed after the register was checked; register the model again")
        }
    }
}
