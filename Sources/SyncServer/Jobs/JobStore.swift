/// The durable job queue, kept in the server's own database beside the
/// documents, so that a job is inserted, claimed and finished with the same
/// guarantees as an update. Every node runs workers on the same table.
///
/// Times are milliseconds since 1970 passed in by the caller (its clock), so
/// that tests move time instead of waiting for it.
///
/// - Important: a worker may act on a job only between ``claim(kinds:worker:limit:leaseMillis:now:)``
///   and its ``complete(_:result:now:)`` or ``fail(_:error:retryAt:now:)``; both
///   change the row only while it is still `running` for that attempt and
///   that worker, so a worker whose lease ran out (and whose job was rescued
///   and claimed again) cannot finish it.
public protocol JobStore: Sendable {
    /// Inserts a job; with a unique key that exists already, inserts nothing.
    func enqueue(_ job: NewJob, now: Int64) async throws(StoreError) -> EnqueueResult

    /// Claims up to `limit` due jobs of `kinds` (all kinds when empty), in
    /// priority then run-at order: each becomes `running` for `worker`, its
    /// attempt counted, leased until `now + leaseMillis`. No job is claimed twice.
    func claim(kinds: [JobKind], worker: String, limit: Int, leaseMillis: Int64, now: Int64) async throws(StoreError) -> [Job]

    /// Extends a running job's lease; false when the job is not this
    /// worker's running attempt (rescued, cancelled): the worker should stop.
    func renewLease(_ claim: JobClaim, until: Int64) async throws(StoreError) -> Bool

    /// Marks the attempt completed with `result`; false (and nothing changed)
    /// when the job is not this worker's running attempt any more.
    func complete(_ claim: JobClaim, result: String, now: Int64) async throws(StoreError) -> Bool

    /// ``complete(_:result:now:)`` for several attempts in one transaction; one answer per completion, in order.
    func completeAll(_ completions: [JobCompletion], now: Int64) async throws(StoreError) -> [Bool]

    /// Records the attempt's error. With a `retryAt` and attempts left the job
    /// becomes `retryable` at that time; otherwise `discarded`. Returns the
    /// new state, nil (nothing changed) when the job is not this worker's any more.
    func fail(_ claim: JobClaim, error: String, retryAt: Int64?, now: Int64) async throws(StoreError) -> JobState?

    /// Returns running jobs whose lease ended before `now` to the queue
    /// (`retryable` at once, or `discarded` when no attempt is left), each
    /// with an error naming the lost worker. Returns how many.
    func rescueExpired(now: Int64) async throws(StoreError) -> Int

    /// Cancels a job that has not finished (queued or running); returns it as it now is.
    func cancel(id: Int64, now: Int64) async throws(StoreError) -> Job?

    /// Cancels the unfinished job with `uniqueKey`, if any.
    func cancel(uniqueKey: String, now: Int64) async throws(StoreError) -> Job?

    /// Makes a job that is not running available at once (with one more
    /// attempt when it had used them all); returns it as it now is.
    func retry(id: Int64, now: Int64) async throws(StoreError) -> Job?

    /// One job.
    func job(id: Int64) async throws(StoreError) -> Job?

    /// Jobs, newest first, optionally of one state and kind.
    func jobs(state: JobState?, kind: JobKind?, limit: Int) async throws(StoreError) -> [Job]

    /// How many jobs there are per kind and state.
    func jobCounts() async throws(StoreError) -> [JobKind: [JobState: Int]]
}

/// A worker's hold on one attempt of a job.
public struct JobClaim: Sendable, Equatable {
    public var id: Int64
    public var attempt: Int
    public var worker: String
    public init(id: Int64, attempt: Int, worker: String) {
        self.id = id
        self.attempt = attempt
        self.worker = worker
    }
}

extension Job {
    /// This attempt's claim (valid while the job is running).
    public var claim: JobClaim { JobClaim(id: id, attempt: attempt, worker: attemptedBy ?? "") }
}

/// An attempt to mark completed, with its result.
public struct JobCompletion: Sendable {
    public var claim: JobClaim
    public var result: String
    public init(claim: JobClaim, result: String) {
        self.claim = claim
        self.result = result
    }
}
