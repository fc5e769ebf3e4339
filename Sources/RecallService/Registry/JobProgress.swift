import Foundation
import RecallStore

/// One change of a job as the registry makes it: queued, a phase's progress while it runs, and
/// its end (succeeded or failed). Watchers follow these instead of polling the job row; the row
/// still records the same progress, for a restart and for readers in other processes.
public struct JobProgress: Sendable, Equatable {
    public let job: Int
    public let state: JobRecord.State
    public let phase: String?
    /// Overall progress, 0...1.
    public let progress: Double

    public init(job: Int, state: JobRecord.State, phase: String?, progress: Double) {
        self.job = job
        self.state = state
        self.phase = phase
        self.progress = progress
    }

    /// The job is over: this is the last change its stream delivers.
    public var isFinished: Bool { state == .succeeded || state == .failed || state == .cancelled }
}

/// Hands every `JobProgress` to the streams subscribed to it, in the order they were published.
/// A stream for one job ends after that job's final change; a stream of every job ends when the
/// registry stops. Publishing never waits for a reader (a slow reader's stream buffers).
final class JobProgressBroadcaster: @unchecked Sendable {
    private struct Subscriber {
        /// Nil: every job.
        let job: Int?
        let continuation: AsyncStream<JobProgress>.Continuation
    }

    /// Recursive: finishing a stream under the lock runs its termination handler, which unsubscribes.
    private let lock = NSRecursiveLock()
    private var subscribers: [UInt64: Subscriber] = [:]
    private var nextID: UInt64 = 0
    private var closed = false
    /// The last change of each job not yet over.
    private var latest: [Int: JobProgress] = [:]
    /// The end of the jobs that ended lately (the newest `endsKept`), so a stream subscribed
    /// just after its job ended still gets the end and finishes.
    private var ends: [Int: JobProgress] = [:]
    private var endOrder: [Int] = []
    private let endsKept = 1024

    /// A stream of `job`'s changes (every job's when nil). `buffering` decides what a reader that
    /// falls behind gets: every change (`.unbounded`), or only the newest ones.
    func subscribe(job: Int?, buffering: AsyncStream<JobProgress>.Continuation.BufferingPolicy) -> AsyncStream<JobProgress> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobProgress.self, bufferingPolicy: buffering)
        lock.lock()
        if closed {
            lock.unlock()
            continuation.finish()
            return stream
        }
        if let job, let end = ends[job] {
            lock.unlock()
            continuation.yield(end)
            continuation.finish()
            return stream
        }
        let id = nextID
        nextID += 1
        // A reader that goes away (its task cancelled) unsubscribes.
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        subscribers[id] = Subscriber(job: job, continuation: continuation)
        lock.unlock()
        return stream
    }

    func publish(_ change: JobProgress) {
        // Yielded under the lock, so every stream sees changes in the order they were published.
        lock.lock(); defer { lock.unlock() }
        latest[change.job] = change.isFinished ? nil : change
        if change.isFinished {
            if ends.updateValue(change, forKey: change.job) == nil { endOrder.append(change.job) }
            if endOrder.count > endsKept { ends[endOrder.removeFirst()] = nil }
        }
        for (id, s) in subscribers.sorted(by: { $0.key < $1.key }) where s.job == nil || s.job == change.job {
            s.continuation.yield(change)
            if change.isFinished, s.job != nil {
                subscribers[id] = nil
                s.continuation.finish()
            }
        }
    }

    /// The last change published for `job` while it was not yet over.
    func latest(job: Int) -> JobProgress? {
        lock.lock(); defer { lock.unlock() }
        return latest[job]
    }

    /// Ends every stream (the registry is stopping); later subscribers get an empty stream.
    func close() {
        lock.lock()
        closed = true
        let all = subscribers.values
        subscribers.removeAll()
        lock.unlock()
        for s in all { s.continuation.finish() }
    }

    private func remove(_ id: UInt64) {
        lock.lock()
        subscribers[id] = nil
        lock.unlock()
    }
}
