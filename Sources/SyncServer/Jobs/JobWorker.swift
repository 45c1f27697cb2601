import Synchronization
public import Foundation
public import Logging
public import ServiceLifecycle

/// Runs queued jobs on this node: claims due jobs of the kinds it has
/// handlers for, up to `concurrency` at a time, renews each one's lease while
/// it runs, records the outcome, and returns the jobs of dead workers to the
/// queue once their lease ran out. Wakes at a ``Wakeup`` signal (an insert on
/// this node, or a PostgreSQL notification) and polls every `pollInterval`
/// whatever happens to the signals.
public final class JobWorker: Service {
    /// Everything a worker can be tuned with.
    public struct Configuration: Sendable {
        /// This worker's name in the jobs table (`attempted_by`). Unique per process.
        public var workerID: String
        /// Jobs run at the same time. Default 8.
        public var concurrency = 8
        /// How long a claim holds a job without renewal. Default 30 s; renewed every third of it.
        public var lease: Duration = .seconds(30)
        /// The fallback poll. Default 1 s.
        public var pollInterval: Duration = .seconds(1)
        public var retry = RetryPolicy()

        public init(workerID: String) { self.workerID = workerID }
    }

    private let store: any JobStore
    private let handlers: [JobKind: any JobHandler]
    private let config: Configuration
    private let wakeup: Wakeup
    private let metrics: JobMetrics?
    private let logger: Logger
    /// The time jobs are due by: milliseconds since 1970.
    private let now: @Sendable () -> Int64
    /// Completions of jobs that finish together are written together.
    private let completions: StoreBatcher<JobCompletion, Bool>

    public init(store: any JobStore, handlers: [JobKind: any JobHandler], configuration: Configuration, wakeup: Wakeup,
                metrics: JobMetrics? = nil, logger: Logger, now: @escaping @Sendable () -> Int64 = { epochMillis(Date()) }) {
        self.store = store
        self.handlers = handlers
        self.config = configuration
        self.wakeup = wakeup
        self.metrics = metrics
        self.logger = logger
        self.now = now
        completions = StoreBatcher { [store, now] items throws(StoreError) in try await store.completeAll(items, now: now()) }
    }

    public func run() async throws {
        let running = RunningCount()
        await withDiscardingTaskGroup { group in
            var lastRescue: Int64?
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                let t = now()
                if lastRescue.map({ t - $0 >= config.lease.milliseconds / 3 }) ?? true {
                    lastRescue = t
                    await rescue(at: t)
                }
                let busy = running.value
                let free = config.concurrency - busy
                var claimed: [Job] = []
                // A busy worker claims in batches (once a quarter of its slots is free), not one job per finished job.
                if free > 0, busy == 0 || free >= max(1, config.concurrency / 4) {
                    do {
                        claimed = try await store.claim(kinds: Array(handlers.keys), worker: config.workerID, limit: free,
                                                        leaseMillis: config.lease.milliseconds, now: now())
                    } catch {
                        logger.warning("job claim failed", metadata: ["error": "\(error)"])
                    }
                }
                for job in claimed {
                    running.add(1)
                    group.addTask {
                        await self.execute(job)
                        running.add(-1)
                        self.wakeup.signal()
                    }
                }
                // A full batch: there may be more due at once.
                if !claimed.isEmpty, claimed.count == free { continue }
                await wakeup.wait(timeout: config.pollInterval)
            }
        }
    }

    private func rescue(at t: Int64) async {
        do {
            let n = try await store.rescueExpired(now: t)
            if n > 0 { logger.notice("rescued jobs whose worker stopped answering", metadata: ["jobs": "\(n)"]) }
            metrics?.queue(try await store.jobCounts())
        } catch {
            logger.warning("job rescue failed", metadata: ["error": "\(error)"])
        }
    }

    /// One attempt: the handler runs while a sibling task renews the lease;
    /// when the lease cannot be renewed (the job was cancelled or rescued)
    /// the handler is cancelled and its outcome is not recorded.
    func execute(_ job: Job) async {
        guard let handler = handlers[job.kind] else { return }
        let claim = job.claim
        let started = now()
        metrics?.started(job.kind, waited: .milliseconds(started - job.runAt))
        let outcome: Result<String, JobFailure>? = await withTaskGroup(of: Result<String, JobFailure>?.self) { group in
            group.addTask {
                do throws(JobFailure) { return .success(try await handler.run(job)) } catch { return .failure(error) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.config.lease / 3)
                    if Task.isCancelled { break }
                    let kept = (try? await self.store.renewLease(claim, until: self.now() + self.config.lease.milliseconds)) ?? true
                    if !kept { return nil }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        metrics?.ran(job.kind, for: .milliseconds(now() - started))
        var log = logger
        log[metadataKey: "job"] = "\(job.id)"
        log[metadataKey: "kind"] = "\(job.kind)"
        switch outcome {
        case nil:
            log.notice("job stopped: it was cancelled or given to another worker")
            metrics?.finished(job.kind, outcome: "refused")
        case .success(let result)?:
            do {
                if try await completions.submit(JobCompletion(claim: claim, result: result)) {
                    metrics?.finished(job.kind, outcome: "completed")
                } else {
                    log.notice("job completion refused: it is no longer this worker's attempt")
                    metrics?.finished(job.kind, outcome: "refused")
                }
            } catch {
                // The lease runs out and the job runs again: handlers tolerate a repeat.
                log.warning("job completion not recorded", metadata: ["error": "\(error)"])
            }
        case .failure(let failure)?:
            var random = SystemRandomNumberGenerator()
            let retryAt = failure.retryable
                ? now() + config.retry.delay(afterAttempt: job.attempt, retryAfter: failure.retryAfter, using: &random).milliseconds : nil
            do {
                let state = try await store.fail(claim, error: failure.message, retryAt: retryAt, now: now())
                metrics?.finished(job.kind, outcome: state?.rawValue ?? "refused")
                log.info("job attempt failed", metadata: ["attempt": "\(job.attempt)", "error": "\(failure.message)", "state": "\(state?.rawValue ?? "refused")"])
                if state == .discarded { await handler.discarded(job, error: failure.message) }
            } catch {
                log.warning("job failure not recorded", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Jobs this worker is running (read by its claim loop, changed by the jobs' tasks).
private final class RunningCount: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add(_ n: Int) { count.withLock { $0 += n } }
}
