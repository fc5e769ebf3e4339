import Foundation
import RecallService
import RecallStore

/// Prometheus text exposition (format 0.0.4) of the registry: jobs, their durations, requests,
/// bytes stored and the deduplication ratio. Gauges are read from the store at scrape time.
final class Metrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]

    func countRequest(method: String, status: Int) {
        lock.lock(); defer { lock.unlock() }
        requests["\(method)|\(status)", default: 0] += 1
    }

    func render(_ registry: Registry) throws -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name)\(s.labels.isEmpty ? "" : "{\(s.labels)}") \(format(s.value))\n" }
        }
        let counts = try registry.jobCounts()
        metric("recall_jobs", "gauge", "Jobs by state.",
               ([.queued, .running, .succeeded, .failed] as [JobRecord.State]).map { ("state=\"\($0.rawValue)\"", Double(counts[$0] ?? 0)) })
        let durations = registry.finishedDurations
        metric("recall_job_duration_seconds", "summary", "Wall time of jobs run by this daemon.",
               [("quantile=\"0.5\"", quantile(durations, 0.5)), ("quantile=\"0.9\"", quantile(durations, 0.9))])
        out += "recall_job_duration_seconds_sum \(format(durations.reduce(0, +)))\nrecall_job_duration_seconds_count \(durations.count)\n"
        let chunks = try registry.chunkStatistics()
        let totals = try registry.storeTotals()
        let logical = totals.modelRawBytes
        metric("recall_store_stored_bytes", "gauge", "Compressed bytes of all chunks in the blob store.", [("", Double(chunks.storedBytes))])
        metric("recall_store_logical_bytes", "gauge", "Raw bytes of every stored model, before deduplication and compression.", [("", Double(logical))])
        metric("recall_store_chunks", "gauge", "Distinct chunks in the blob store.", [("", Double(chunks.count))])
        metric("recall_store_dedup_ratio", "gauge", "Logical bytes per stored byte (deduplication and compression together).",
               [("", chunks.storedBytes > 0 ? Double(logical) / Double(chunks.storedBytes) : 0)])
        metric("recall_versions", "gauge", "Versions in the lineage.", [("", Double(totals.versions))])
        let snapshot: [String: Int] = { lock.lock(); defer { lock.unlock() }; return requests }()
        metric("recall_http_requests_total", "counter", "HTTP requests answered, by method and status.",
               snapshot.keys.sorted().map { key in
                   let p = key.split(separator: "|")
                   return ("method=\"\(p[0])\",status=\"\(p[1])\"", Double(snapshot[key]!))
               })
        return out
    }

    private func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    private func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
