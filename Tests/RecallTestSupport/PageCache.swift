import Foundation
import RecallTensor

/// What the page cache holds of a file: for tests of code that drops pages it is done with.
public enum PageCache {
    /// The share of `url`'s pages in the page cache (mincore over a fresh mapping).
    public static func resident(_ url: URL) throws -> Double {
        let file = try MappedFile(url: url)
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), pages = (file.count + page - 1) / page
        var vec = [UInt8](repeating: 0, count: pages)
        let rc = mincore(UnsafeMutableRawPointer(mutating: file.bytes.baseAddress!), file.count, &vec)
        guard rc == 0 else { throw RecallError(.io, "mincore failed on \(url.path)") }
        return Double(vec.filter { $0 & 1 != 0 }.count) / Double(pages)
    }

    /// Whether `url` lies on tmpfs (the mount with the longest matching prefix in /proc/mounts),
    /// where a file's pages are its data and are never dropped.
    public static func isTmpfs(_ url: URL) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let path = url.resolvingSymlinksInPath().path
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 2 else { continue }
            let point = fields[1], prefix = point.hasSuffix("/") ? point : point + "/"
            guard path == point || path.hasPrefix(prefix), point.count > (best?.point.count ?? -1) else { continue }
            best = (point, fields[2])
        }
        return best?.type == "tmpfs"
    }
}
