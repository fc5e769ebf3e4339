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
    /// Fault-injection knob for the crash tests (`RECALL_JOB_PHASE_DELAY_MS`): a pause at the
    /// start of every phase so a test can kill the daemon mid-job. Zero unless set.
    let phaseDelay = useconds_t(ProcessInfo.processInfo.environment["RECALL_JOB_PHASE_DELAY_MS"].flatMap(UInt32.init) ?? 0) * 1000

    private var durations: [Double] = []
    /// Durations of finished jobs, for metrics.
    public var finishedDurations: [Double] {
        condition.lock(); defer { condition.unlock() }
        return durations
    }

    public init(store: RegistryStore) throws {
        self.store = store
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
                           evalMetric: String = "accuracy") throws -> VersionRecord {
        guard RegistrySettings.evalMetrics.contains(evalMetric) else {
            throw RecallError(.invalidArgument, "eval metric '\(evalMetric)' must be one of \(RegistrySettings.evalMetrics.joined(separator: ", "))")
        }
        if let gatePoints, !(gatePoints >= 0) { throw RecallError(.invalidArgument, "gate must be a non-negative number of accuracy points") }
        if try provenance.settings() != nil {
            throw RecallError(.conflict, "the registry is already initialised; use a new --home for another base")
        }
        _ = try MergePlan(method: method, options: options)
        let checkpoint = try Checkpoint.open(url)
        _ = try checkpoint.modelConfig()  // the base must be an architecture the engine runs
        if method == "recall" || method == "regmean", !FileManager.default.fileExists(atPath: checkpoint.url.appendingPathComponent("tokenizer.json").path) {
            throw RecallError(.notFound, "\(url.path): no tokenizer.json; \(method) runs the model on samples, so the base must be an HF directory with its tokenizer")
        }
        for info in checkpoint.weights.infos {
            if let bad = try checkpoint.weights.tensor(named: info.name).firstNonFinite {
                throw RecallError(.invalidFile, "\(url.path): tensor \"\(info.name)\" holds a NaN or Inf at element \(bad)")
            }
        }
        let (model, _, _) = try store.putModel(checkpoint, kind: .base, name: url.lastPathComponent, task: nil)
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
            throw RecallError(.invalidArgument, "the registry has no base yet; run `recallctl init BASE_MODEL_DIR` first")
        }
        return s
    }

    /// The base's config and tokenizer files, written once under `cache/` (the tokenizer loads from a directory).
    func baseFiles(_ base: StoredCheckpoint) throws -> URL {
        let dir = cache.appendingPathComponent("base-\(base.hash.prefix(16))")
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent(".complete").path) {
            _ = try base.writeFiles(to: dir)
            FileManager.default.createFile(atPath: dir.appendingPathComponent(".complete").path, contents: Data())
        }
        return dir
    }

    // MARK: Register

    /// Checks everything that can be checked before queueing (nothing is stored when it fails)
    /// and queues the job.
    public func submitRegister(_ request: RegisterRequest) throws -> JobRecord {
        let settings = try settings()
        guard !request.task.isEmpty, !request.task.contains(where: { $0.isNewline }) else {
            throw RecallError(.invalidArgument, "--task must be a non-empty name")
        }
        let samples = try SamplesFile.parse(Data(request.samples.utf8), source: request.samplesName)
        if settings.method == "recall" || settings.method == "regmean", samples.count < 1 {
            throw RecallError(.invalidFile, "\(request.samplesName): no samples")
        }
        if let parent = request.parent { _ = try provenance.resolve(parent) }
        guard let baseRecord = try provenance.model(id: settings.baseModelID) else {
            throw RecallError(.notFound, "store: the base model record is missing; run `recallctl verify`")
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
        let work = incoming.appendingPathComponent("import-\(UUID().uuidString)")
        do {
            let candidate = try ModelIntake.open(url, trainedFrom: origin, workDirectory: work)
            try ModelIntake.check(candidate.weights, against: base, file: url.path, store: store.blobs)
            var payload = request.json.objectValue ?? []
            payload.append(("resolved", .string(candidate.format == "gguf" ? work.path : url.path)))
            payload.append(("format", .string(candidate.format)))
            // Resolved now, so the job applies the adapter to the same model even if head moves meanwhile.
            payload.append(("trained_from_version", .int(trainedFrom)))
            // The worker refuses the file if it changed while the job waited.
            payload.append(("fingerprint", try InputFingerprint.of(candidate.format == "gguf" ? work : url)))
            let job = try provenance.enqueueJob(kind: .register, payload: .object(payload))
            condition.lock(); condition.signal(); condition.unlock()
            log("job \(job.id) queued: register \(url.lastPathComponent) as task \(request.task)")
            return job
        } catch {
            try? FileManager.default.removeItem(at: work)
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
            if n > 1_000_000 { throw RecallError(.invalidFile, "registry: the version chain from \(number) loops; run `recallctl verify`") }
        }
        return n
    }

    /// The weights of version `number`'s model (version 1 is the base itself).
    func trainedFromCheckpoint(_ number: Int, base: StoredCheckpoint) throws -> StoredCheckpoint {
        guard number != 1 else { return base }
        guard let v = try provenance.version(number), let m = try provenance.model(id: v.modelID) else {
            throw RecallError(.notFound, "version \(number) has no model record; run `recallctl verify`")
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
        var wait = 0.5
        while true {
            do {
                try provenance.failJob(id, error: message)
                condition.lock(); unrecordedFailure = nil; condition.unlock()
                return
            } catch {
                log("job \(id): cannot record its failure (\(error)); retrying in \(wait) s")
                condition.lock()
                unrecordedFailure = (id, "\(message) (not yet written to registry.sqlite: \(error); the daemon retries until it can)")
                condition.unlock()
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

    /// Uploads no queued job names (never registered, or cut off by a kill) are removed: all of
    /// them when the worker starts, and while it runs those older than `uploadMaxAge` (checked
    /// every few minutes when the worker is idle), so `incoming/` does not grow for ever; a client
    /// whose upload went this way gets a 404 naming the upload at register and uploads again.
    func removeOrphanUploads(olderThan age: TimeInterval = 0) {
        // Without the list of uploads jobs still need, nothing is removed (a damaged row must not
        // turn into deleting every upload).
        let named: Set<String>
        do { named = try provenance.uploadsNamedByUnfinishedJobs() } catch {
            log("cannot list the uploads queued jobs need (\(error)); leaving incoming/ as it is")
            return
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: incoming.path)) ?? []
        // A forward pass's file-backed copy is unlinked once mapped; one is left only by a kill
        // mid-write, so only the sweep at start removes them (an API eval may be writing one now).
        for name in (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? [] where age == 0 && name.hasPrefix("forward-") {
            try? FileManager.default.removeItem(at: cache.appendingPathComponent(name))
        }
        for name in entries where name.hasPrefix("upload-") || name.hasPrefix("export-") {
            let path = incoming.appendingPathComponent(name).path
            guard !named.contains(name) else { continue }
            if age > 0, let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) < age { continue }
            do { try FileManager.default.removeItem(atPath: path); log("removed orphan upload \(name)") } catch {
                log("cannot remove orphan upload \(name): \(error)")
            }
        }
    }

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

    func run(_ job: JobRecord) {
        let started = Date()
        do {
            let result = try runRegister(job)
            try provenance.finishJob(job.id, result: result)
            log("job \(job.id) succeeded: \(result.serialized())")
        } catch {
            let message = (error as? RecallError)?.message ?? "\(error)"
            log("job \(job.id) failed: \(message)")
            recordFailure(job.id, message)
        }
        condition.lock(); durations.append(Date().timeIntervalSince(started)); condition.unlock()
        if job.payload["uploaded"]?.boolValue == true, let m = job.payload["model"]?.stringValue {
            try? FileManager.default.removeItem(atPath: m)
        }
        if job.payload["format"]?.stringValue == "gguf", let r = job.payload["resolved"]?.stringValue {
            try? FileManager.default.removeItem(atPath: r)
        }
    }

    /// Overall progress of a phase's fraction (phases take roughly these shares of a register).
    static let phaseSpans: [String: (Double, Double)] = [
        "store": (0, 0.2), "statistics": (0.2, 0.25), "select": (0.25, 0.3), "represent": (0.3, 0.6), "fuse": (0.6, 0.8),
        "store-merged": (0.8, 0.88), "evaluate": (0.88, 0.98), "commit": (0.98, 1),
    ]

    func runRegister(_ job: JobRecord) throws -> JSONValue {
        var pipeline = try RegisterPipeline(registry: self, job: job)
        return try pipeline.run()
    }
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
