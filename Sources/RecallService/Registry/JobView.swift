import Foundation
import RecallTensor
import RecallStore
import RecallAPI

extension Registry {
    /// A job as the API shows it, with its ETA (seconds, from the time it has run and the
    /// fraction done). `hidingPaths` (TCP clients) names the model by its file name only, and
    /// error messages keep no path of the daemon's machine.
    public func jobReply(_ job: JobRecord, hidingPaths: Bool = false) -> JobReply {
        var model = job.payload["model"]?.stringValue
        var error = job.error
        if hidingPaths {
            model = model.map { URL(fileURLWithPath: $0).lastPathComponent }
            error = error.map { $0.replacingOccurrences(of: store.home.path, with: "$RECALL_HOME") }
        }
        return JobReply(id: job.id, kind: job.kind.rawValue, state: job.state.rawValue, phase: job.phase, progress: job.progress,
                        error: error, result: job.result, task: job.payload["task"]?.stringValue, model: model,
                        createdAt: job.createdAt, startedAt: job.startedAt, finishedAt: job.finishedAt,
                        etaSeconds: eta(job.id, progress: job.progress))
    }

    /// `job` as `jobReply` shows it, moved on by a later `change` (its state, phase and
    /// progress): what a watcher that read the row once shows as the job runs.
    public func jobReply(_ job: JobRecord, after change: JobProgress, hidingPaths: Bool = false) -> JobReply {
        var reply = jobReply(job, hidingPaths: hidingPaths)
        reply.state = change.state.rawValue
        reply.phase = change.phase
        reply.progress = change.progress
        reply.etaSeconds = eta(job.id, progress: change.progress)
        return reply
    }

    /// Seconds left for the running job at `progress`, from how long it has run; nil otherwise.
    private func eta(_ id: Int, progress: Double) -> Double? {
        guard let r = runningJob, r.id == id, progress > 0.02 else { return nil }
        let elapsed = Date().timeIntervalSince(r.started)
        return (elapsed / progress * (1 - progress) * 10).rounded() / 10
    }
}
