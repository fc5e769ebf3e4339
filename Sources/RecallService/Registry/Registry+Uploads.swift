import Foundation

/// Clean-up of `incoming/` and `cache/`: what no job will read again.
extension Registry {
    /// Uploads and snapshots (`InputSnapshot`) no queued job names (never registered, or cut off by a kill) are removed: all of
    /// them when the worker starts, and while it runs those older than `uploadMaxAge` (checked
    /// every few minutes when the worker is idle), so `incoming/` does not grow for ever; a client
    /// whose upload went this way gets a 404 naming the upload at register and uploads again.
    func removeOrphanUploads(olderThan age: TimeInterval = 0) {
        // Without the list of uploads jobs still need, nothing is removed (a damaged row must not
        // turn into deleting every upload).
        let named: Set<String>
        do { named = Set(try provenance.inputPathsOfUnfinishedJobs().map(incomingEntry)) } catch {
            log("cannot list the uploads queued jobs need (\(error)); leaving incoming/ as it is")
            return
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: incoming.path)) ?? []
        // A forward pass's file-backed copy is unlinked once mapped; one is left only by a kill
        // mid-write, so only the sweep at start removes them (an API eval may be writing one now).
        // `base-*` directories are the base's files as earlier daemons wrote them for the
        // tokenizer, which now reads the store; nothing reads them any more.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
        where age == 0 && (name.hasPrefix("forward-") || name.hasPrefix("base-")) {
            do { try FileManager.default.removeItem(at: cache.appendingPathComponent(name)) } catch {
                log("cannot remove \(name) from cache/: \(error)")
            }
        }
        for name in entries where name.hasPrefix("upload-") || name.hasPrefix("export-") || name.hasPrefix(InputSnapshot.prefix) {
            let path = incoming.appendingPathComponent(name).path
            guard !named.contains(name) else { continue }
            if age > 0, let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) < age { continue }
            do { try FileManager.default.removeItem(atPath: path); log("removed orphan upload \(name)") } catch {
                log("cannot remove orphan upload \(name): \(error)")
            }
        }
    }

    /// The entry of `incoming/` a job's path lies in (its first component there), or the path's
    /// last component (uploads as older daemons named them).
    private func incomingEntry(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return InputSnapshot.directory(of: url, incoming: incoming)?.lastPathComponent ?? url.lastPathComponent
    }
}
