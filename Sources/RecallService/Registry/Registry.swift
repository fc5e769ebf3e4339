import Foundation
import RecallTensor
import RecallMerge
import RecallStore
import RecallAPI

/// The registry as the daemon runs it: `init` records the base and the merge settings; `register`
/// checks a model and queues a durable job; one worker runs the jobs in arrival order, each
/// through the phases store -> select -> represent -> fuse -> store-merged -> commit; reads go
/// straight to the store and run concurrently with the worker.
///
/// A job records what each finished phase produced (the stored task model), so a daemon killed
/// mid-job resumes it on restart: the task model is not stored again, representations come from
/// the cache, and only the merge itself is recomputed.
public final class Registry: @unchecked Sendable {
    public let store: RegistryStore
    /// Uploads and GGUF imports waiting for their job.
    public let incoming: URL
    let cache: URL
    private let condition = NSCondition()
    private var stopping = false
    private var workerDone = false
    private var running: (id: Int, started: Date)?
    /// A job whose failure the worker could not yet write (see `recordFailure`).
    private var unrecordedFailure: (id: Int, error: String)?
    public var log: @Sendable (String) -> Void = { _ in }
    /// A pause at the start of every phase, so a crash test can kill the daemon mid-job (the
    /// daemon sets it from `RECALL_JOB_PHASE_DELAY_MS`). Zero in normal use.
    let phaseDelay: TimeInterval
    /// Job changes for watchers, fed where the worker records them in SQLite.
    let changes = JobProgressBroadcaster()

    private var durations: [Double] = []
    /// Durations of finished jobs, for metrics.
    public var finishedDurations: [Double] {
        condition.lock(); defer { condition.unlock() }
        return durations
    }

    public init(store: RegistryStore, phaseDelay: TimeInterval = 0) throws {
        self.store = store
        self.phaseDelay = max(0, phaseDelay)
        incoming = store.home.appendingPathComponent("incoming")
        cache = store.home.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
    }

    var provenance: ProvenanceStore { store.provenance }

    // MARK: Init

    /// Stores the base and the settings; version 1 is the base with head on it.
    public func initialize(base url: URL, method: String, scenario: RegistrySettings.Scenario,
                           options: [String: String], gatePoints: Double? = nil,
                           evalMetric: EvalMetric = .accuracy) throws -> VersionRecord {
        if let gatePoints, !(gatePoints >= 0) { throw RecallError(.invalidArgument, "gate must be a non-negative number of accuracy points") }
        if try provenance.settings() != nil {
            throw RecallError(.conflict, "the registry is already initialised; use a new --home for another base")
        }
        _ = try MergePlan(method: method, options: options)
        let method = try MergeMethodName.parse(method)
        let checkpoint = try Checkpoint.open(url)
        _ = try checkpoint.modelConfig()  // the base must be an architecture the engine runs
        if method == .recall || method == .regmean, !FileManager.default.fileExists(atPath: checkpoint.url.appendingPathComponent("tokenizer.json").path) {
            throw RecallError(.notFound, "\(url.path): no tokenizer.json; \(method) runs the model on samples, so the base must be an HF directory with its tokenizer")
        }
        // The put scans every chunk for NaN/Inf as it encodes it (one pass over the bytes) and
        // leaves the store as it was when it finds one.
        let model: ModelRecord
        do { model = try store.putModel(checkpoint, kind: .base, name: url.lastPathComponent, task: nil).model } catch let e as NonFiniteTensorError {
            throw RecallError(.invalidFile, "\(url.path): \(e); use a base model with finite weights")
        }
        return try provenance.initialize(RegistrySettings(baseModelID: model.id, method: method, scenario: scenario, options: options,
                                                          gatePoints: gatePoints, evalMetric: evalMetric))
    }

    // MARK: Refs

    /// Moves head to `ref` (a number, tag or `head~N`); returns the version head is now on.
    @discardableResult
    public func rollback(to ref: String) throws -> Int {
        let number = try provenance.resolve(ref)
        try provenance.rollback(to: number)
        return number
    }

    /// Names the version `ref` resolves to; returns its number.
    @discardableResult
    public func tag(_ name: String, version ref: String) throws -> Int {
        let number = try provenance.resolve(ref)
        try provenance.tag(name, version: number)
        return number
    }

    /// Writes version `ref` as an HF directory at `directory` (on this machine); returns its number.
    @discardableResult
    public func export(version ref: String, to directory: URL, dtype: DType?, force: Bool) throws -> Int {
        let number = try provenance.resolve(ref)
        try store.export(version: String(number), to: directory, dtype: dtype, force: force)
        return number
    }

    func settings() throws -> RegistrySettings {
        guard let s = try provenance.settings() else {
            throw RecallError(.invalidArgument, "the registry has no base yet; initialise it with a base model first (init BASE_MODEL_DIR)")
        }
        return s
    }

    // MARK: Register

    /// Checks everything that can be checked before queueing (nothing is stored when it fails)
    /// and queues the job.
    public func submitRegister(_ request: RegisterRequest) throws -> JobRecord {
        let settings = try settings()
        guard !request.task.isEmpty, !request.task.contains(where: { $0.isNewline }) else {
            throw RecallError(.invalidArgument, "--task must be a non-empty name")
        }
        // Parsed once here; the worker parses them again only from the job's row (it may run after a restart).
        let samples = try SamplesFile.parse(Data(request.samples.utf8), source: request.samplesName)
        if settings.method == .recall || settings.method == .regmean, samples.isEmpty {
            throw RecallError(.invalidFile, "\(request.samplesName): no samples")
        }
        if let parent = request.parent { _ = try provenance.resolve(parent) }
        guard let baseRecord = try provenance.model(id: settings.baseModelID) else {
            throw RecallError(.notFound, "store: the base model record is missing; check the store (verify)")
        }
        let base = try store.checkpoint(of: baseRecord)
        if let eval = request.eval {
            _ = try TaskEvaluator.items(Data(eval.utf8), source: request.evalName)
            guard base.fileNames.contains("tokenizer.json"), base.fileNames.contains("config.json") else {
                throw RecallError(.invalidArgument, "\(request.evalName): evaluation runs the model, but the registry's base has no config.json/tokenizer.json; register without --eval")
            }
        }
        let trainedFrom = try trainedFromVersion(request, settings: settings)
        let origin = try trainedFromCheckpoint(trainedFrom, base: base)
        let url = URL(fileURLWithPath: request.model)
        var snapshot: URL?
        do {
            let checked = try InputFingerprint.of(url)
            let candidate = try ModelIntake.open(url, trainedFrom: origin)
            try ModelIntake.check(candidate.weights, against: base, file: url.path)
            var resolved = url
            // A path on this machine is hard-linked into incoming/, so the worker reads the bytes
            // just checked even if the model is saved again over its path while the job waits.
            if !request.uploaded, let linked = InputSnapshot.link(url, into: incoming) {
                snapshot = InputSnapshot.directory(of: linked, incoming: incoming)
                guard try InputFingerprint.of(linked) == checked else {
                    throw RecallError(.invalidFile, "\(url.path): changed while it was being checked; register it again once it is written")
                }
                resolved = linked
            }
            // The worker refuses the model if it changed in place while the job waited: the
            // fingerprint taken before the check (the links' equals it).
            let register = RegisterJob(request: request, samples: samples, resolved: resolved, format: candidate.format,
                                           trainedFromVersion: trainedFrom, fingerprint: checked)
            let job = try provenance.enqueueJob(kind: .register, payload: register.payload)
            changes.publish(JobProgress(job: job.id, state: job.state, phase: job.phase, progress: job.progress))
            condition.lock(); condition.signal(); condition.unlock()
            log("job \(job.id) queued: register \(url.lastPathComponent) as task \(request.task)")
            return job
        } catch {
            if let snapshot { try? FileManager.default.removeItem(at: snapshot) }
            if request.uploaded { try? FileManager.default.removeItem(at: url) }
            throw error
        }
    }

    /// The version a registered model was fine-tuned from: `--trained-from` (a version, tag,
    /// `head` or `base`), else the base in the experts scenario and the parent version (`--parent`,
    /// default head) in the sequential one, where each task is trained from the exported head.
    func trainedFromVersion(_ request: RegisterRequest, settings: RegistrySettings) throws -> Int {
        if let ref = request.trainedFrom {
            if ref == "base" { return 1 }
            guard settings.scenario == .sequential else {
                // Its task vector against the base would carry that version's whole merge, counting
                // every other expert twice.
                throw RecallError(.invalidArgument, "--trained-from \(ref): in the experts scenario every task model is fine-tuned from the base; fine-tune from the base, or use a registry with --scenario sequential")
            }
            do { return try provenance.resolve(ref) } catch let e as RecallError {
                throw RecallError(e.kind, "--trained-from \(ref): \(e.message)")
            }
        }
        switch settings.scenario {
        case .experts: return 1
        case .sequential: return try request.parent.map { try provenance.resolve($0) } ?? (try provenance.head()) ?? 1
        }
    }

    /// Merges between version `number` and the base (0 for the base itself).
    func lineageLength(_ number: Int) throws -> Int {
        var n = 0, current: Int? = number
        while let v = current, v != 1, let record = try provenance.version(v) {
            n += 1
            current = record.parentVersion
            if n > 1_000_000 { throw RecallError(.invalidFile, "registry: the version chain from \(number) loops; check the store (verify)") }
        }
        return n
    }

    /// The weights of version `number`'s model (version 1 is the base itself).
    func trainedFromCheckpoint(_ number: Int, base: StoredCheckpoint) throws -> StoredCheckpoint {
        guard number != 1 else { return base }
        guard let v = try provenance.version(number), let m = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "version \(number) has no model record; check the store (verify)")
        }
        return try store.checkpoint(of: m)
    }

    // MARK: Worker

    /// Requeues jobs a dead daemon left running, then runs queued jobs one at a time until `stop`.
    public func startWorker() throws {
        for id in try provenance.requeueInterruptedJobs() { log("job \(id) was interrupted by a restart; resuming it") }
        removeOrphanUploads()
        let thread = Thread { [self] in
            var nextUploadSweep = Date().addingTimeInterval(300)
            while true {
                condition.lock()
                if stopping { workerDone = true; condition.broadcast(); condition.unlock(); return }
                condition.unlock()
                let job: JobRecord?
                do { job = try provenance.claimNextJob() } catch {
                    log("worker: cannot read the job queue: \(error)")
                    job = nil
                }
                guard let job else {
                    if Date() >= nextUploadSweep {
                        removeOrphanUploads(olderThan: uploadMaxAge)
                        nextUploadSweep = Date().addingTimeInterval(300)
                    }
                    condition.lock()
                    if !stopping { _ = condition.wait(until: Date().addingTimeInterval(1)) }
                    condition.unlock()
                    continue
                }
                condition.lock(); running = (job.id, Date()); condition.unlock()
                changes.publish(JobProgress(job: job.id, state: job.state, phase: job.phase, progress: job.progress))
                run(job)
                condition.lock(); running = nil; condition.unlock()
            }
        }
        thread.name = "recall-merge-worker"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Records a job's failure. When even that cannot be written (a full disk takes SQLite down
    /// too) the worker keeps trying, backing off to 30 s, before it takes another job: the next one
    /// would fail the same way, and a job must not stay `running` with no reason while the daemon
    /// lives. On stop it gives up; the job is then requeued at the next start.
    ///
    /// Meanwhile the failure is answered from memory (`job(_:)`), so a client watching the job
    /// sees it fail with its reason instead of `running` until the disk has room.
    func recordFailure(_ id: Int, _ message: String) {
        var wait = 0.5, published = false
        while true {
            do {
                try provenance.failJob(id, error: message)
                condition.lock(); unrecordedFailure = nil; condition.unlock()
                if !published { publishEnd(id, .failed) }
                return
            } catch {
                log("job \(id): cannot record its failure (\(error)); retrying in \(wait) s")
                condition.lock()
                unrecordedFailure = (id, "\(message) (not yet written to registry.sqlite: \(error); the daemon retries until it can)")
                condition.unlock()
                // Watchers read the failure from memory meanwhile (`job(_:)`), so they hear of it now.
                if !published { publishEnd(id, .failed); published = true }
            }
            condition.lock()
            if stopping { unrecordedFailure = nil; condition.unlock(); return }
            _ = condition.wait(until: Date().addingTimeInterval(wait))
            condition.unlock()
            wait = min(wait * 2, 30)
        }
    }

    /// How long an upload no job names is kept while the daemon runs (a client uploads, then
    /// registers within seconds; one that never registers must not fill the disk).
    public var uploadMaxAge: TimeInterval = 3600

    /// Stops taking jobs and waits up to `timeout` for the running one to finish. A job still
    /// running after that stays `running` in SQLite and resumes on the next start.
    public func stop(timeout: TimeInterval) -> Bool {
        condition.lock()
        stopping = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while !workerDone, Date() < deadline { _ = condition.wait(until: deadline) }
        let done = workerDone
        condition.unlock()
        // Watchers end with the daemon; a job still running resumes at the next start.
        changes.close()
        return done
    }

    /// The running job and when it started, for ETA.
    /// Job `id` as clients see it: the row, or its failure while that cannot be written yet.
    public func job(_ id: Int) throws -> JobRecord? {
        try provenance.job(id).map(overlay)
    }

    /// The newest jobs, as `job(_:)` answers each.
    public func jobs(limit: Int = 50) throws -> [JobRecord] {
        try provenance.jobs(limit: limit).map(overlay)
    }

    private func overlay(_ job: JobRecord) -> JobRecord {
        condition.lock(); defer { condition.unlock() }
        guard let pending = unrecordedFailure, pending.id == job.id, !job.isFinished else { return job }
        return job.failed(with: pending.error)
    }

    public var runningJob: (id: Int, started: Date)? {
        condition.lock(); defer { condition.unlock() }
        return running
    }

    func run(_ record: JobRecord) {
        let started = Date()
        var job: RegisterJob?
        do {
            let decoded = try RegisterJob(job: record)
            job = decoded
            var pipeline = try RegisterPipeline(registry: self, record: record, job: decoded)
            let result = try pipeline.run()
            try provenance.finishJob(record.id, result: result)
            publishEnd(record.id, .succeeded)
            log("job \(record.id) succeeded: \(result.serialized())")
        } catch {
            let message = (error as? RecallError)?.message ?? "\(error)"
            log("job \(record.id) failed: \(message)")
            recordFailure(record.id, message)
        }
        condition.lock(); durations.append(Date().timeIntervalSince(started)); condition.unlock()
        // An idle daemon keeps no tensor buffers for reuse (they count as anonymous memory).
        BufferCache.shared.drain()
        for file in job?.filesToRemove(incoming: incoming) ?? [] where FileManager.default.fileExists(atPath: file.path) {
            do { try FileManager.default.removeItem(at: file) } catch {
                log("job \(record.id): cannot remove \(file.path) after the job: \(error)")
            }
        }
    }

    /// Overall progress of a phase's fraction (phases take roughly these shares of a register).
    static let phaseSpans: [String: (Double, Double)] = [
        "store": (0, 0.2), "statistics": (0.2, 0.25), "select": (0.25, 0.3), "represent": (0.3, 0.6), "fuse": (0.6, 0.8),
        "store-merged": (0.8, 0.88), "evaluate": (0.88, 0.98), "commit": (0.98, 1),
    ]
}

extension MergePlan {
    var seed: UInt64 {
        switch kind {
        case let .recall(o, _): return o.seed
        case .regmean, .opcm: return 0
        case let .baseline(_, _, _, seed, _): return seed
        }
    }
}
