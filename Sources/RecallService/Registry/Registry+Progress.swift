import Foundation
import RecallTensor
import RecallStore

/// Job progress as it happens, for watchers in this process (the daemon's watch and UI event
/// routes): the worker publishes each change right after writing it to the job row.
extension Registry {
    /// Every change of job `id` from now on, in order: each phase's progress, then the job's end,
    /// after which the stream finishes. A job that ended lately in this registry gives its end at
    /// once. Subscribe before reading the job's row: a change made after the read is then
    /// certainly delivered, and a job that ended before this registry started is seen over in
    /// the row. The stream also finishes when the registry stops.
    public func progressUpdates(job id: Int) -> AsyncStream<JobProgress> {
        changes.subscribe(job: id, buffering: .unbounded)
    }

    /// Changes of every job (queued, running, progress, end) until the registry stops; a reader
    /// that falls behind gets the newest change only (enough to know it must look again).
    public func jobChanges() -> AsyncStream<JobProgress> {
        changes.subscribe(job: nil, buffering: .bufferingNewest(1))
    }

    /// Records job `id`'s phase and progress in its row (with what finished phases produced, when
    /// given), then tells the watchers.
    func recordProgress(_ id: Int, phase: String, progress: Double, result: JSONValue?) throws {
        try provenance.updateJob(id, phase: phase, progress: progress, result: result)
        changes.publish(JobProgress(job: id, state: .running, phase: phase, progress: min(1, max(0, progress))))
    }

    /// Tells the watchers job `id` is over (after its row says so, or its failure is held in memory).
    func publishEnd(_ id: Int, _ state: JobRecord.State) {
        // A failed job stays at the phase and progress it reached (as its row does).
        let last = changes.latest(job: id)
        changes.publish(state == .succeeded ? JobProgress(job: id, state: state, phase: "done", progress: 1)
            : JobProgress(job: id, state: state, phase: last?.phase, progress: last?.progress ?? 0))
    }
}
