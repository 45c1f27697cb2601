import Testing
import Foundation
import Logging
import PostgresNIO
import SyncServer
import Synchronization
import TestHarness
import TestBasics

/// A handler that waits until it is cancelled (or `finishAfter`), recording what happened.
final class WaitingHandler: JobHandler {
    let started = Mutex<[Int64]>([])
    let cancelled = Mutex<[Int64]>([])
    let finishAfter: Duration

    init(finishAfter: Duration = .seconds(60)) { self.finishAfter = finishAfter }

    func run(_ job: Job) async throws(JobFailure) -> String {
        started.withLock { $0.append(job.id) }
        do { try await Task.sleep(for: finishAfter) } catch {
            cancelled.withLock { $0.append(job.id) }
            throw .retry("cancelled")
        }
        return "{\"slept\":true}"
    }
}

@Suite("Job worker")
struct JobWorkerTests {
    static var logger: Logger {
        var l = Logger(label: "worker-test")
        l.logLevel = .error
        return l
    }

    static func run(_ worker: JobWorker, _ body: () async throws -> Void) async throws {
        let task = Task { try await worker.run() }
        defer { task.cancel() }
        try await body()
    }

    @Test("a job whose lease cannot be renewed (cancelled meanwhile) is stopped and its outcome not recorded")
    func cancelledWhileRunning() async throws {
        let store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        let handler = WaitingHandler()
        var config = JobWorker.Configuration(workerID: "w")
        config.lease = .milliseconds(600)
        let worker = JobWorker(store: store, handlers: [.noop: handler], configuration: config, wakeup: Wakeup(), logger: Self.logger)
        try await Self.run(worker) {
            let id = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/a", documentVersion: 1), now: epochMillis(Date())).id
            try await eventually("the job to start") { handler.started.withLock { $0 } == [id] }
            #expect(try await store.cancel(id: id, now: epochMillis(Date()))?.state == .cancelled)
            try await eventually("the handler to be cancelled") { handler.cancelled.withLock { $0 } == [id] }
            try await Task.sleep(for: .milliseconds(300))
            let job = try #require(try await store.job(id: id))
            #expect(job.state == .cancelled && job.errors.isEmpty && job.attempt == 1)
        }
    }

    @Test("failures are retried with backoff until the handler succeeds")
    func retried() async throws {
        final class Flaky: JobHandler {
            let calls = Mutex(0)
            func run(_ job: Job) async throws(JobFailure) -> String {
                let n = calls.withLock { $0 += 1; return $0 }
                if n < 3 { throw .retry("flaky \(n)") }
                return "{\"calls\":\(n)}"
            }
        }
        let store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        var config = JobWorker.Configuration(workerID: "w")
        config.retry = RetryPolicy(base: .milliseconds(50), cap: .milliseconds(100))
        config.pollInterval = .milliseconds(50)
        let worker = JobWorker(store: store, handlers: [.noop: Flaky()], configuration: config, wakeup: Wakeup(), logger: Self.logger)
        try await Self.run(worker) {
            let id = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/a", documentVersion: 1), now: epochMillis(Date())).id
            try await eventually("the job to complete") { try await store.job(id: id)?.state == .completed }
            let job = try #require(try await store.job(id: id))
            #expect(job.attempt == 3 && job.errors.map(\.message) == ["flaky 1", "flaky 2"] && job.result == "{\"calls\":3}")
        }
    }

    @Test("on PostgreSQL a NOTIFY wakes an idle worker long before its poll; with the listening connection killed from PostgreSQL's side, the listener reconnects and jobs still run")
    func notifyWakes() async throws {
        guard let (_, config) = try await TestDatabase.fresh() else { return }
        let client = PostgresClient(configuration: config)
        let running = Task { await client.run() }
        defer { running.cancel() }
        do {
            let store = PostgresDocumentStore(client: client, logger: Self.logger, operationTimeout: .seconds(60))
            try await store.migrate()
            let wakeup = Wakeup()
            var config = JobWorker.Configuration(workerID: "w")
            config.pollInterval = .seconds(60)
            let worker = JobWorker(store: store, handlers: [.noop: NoopJobHandler()], configuration: config, wakeup: wakeup, logger: Self.logger)
            let listener = PostgresJobListener(store: store, wakeup: wakeup, logger: Self.logger)
            let listening = Task { try await listener.run() }
            defer { listening.cancel() }
            try await Self.run(worker) {
                // Let the worker reach its 60 s wait and the listener its LISTEN.
                try await Task.sleep(for: .seconds(1))
                let started = ContinuousClock.now
                let id = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/a", documentVersion: 1), now: epochMillis(Date())).id
                try await eventually("the notified job to complete", timeout: .seconds(30)) { try await store.job(id: id)?.state == .completed }
                #expect(ContinuousClock.now - started < .seconds(30), "the job waited for the poll")

                // Kill the listening connection from PostgreSQL's side: a job queued now still runs (the listener reconnects).
                let killed = try await client.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()",
                    logger: Self.logger)
                var n = 0
                for try await _ in killed { n += 1 }
                #expect(n == 1, "found \(n) listening connections")
                try await Task.sleep(for: .milliseconds(500))
                let again = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/b", documentVersion: 1), now: epochMillis(Date())).id
                try await eventually("the job after the listener's loss", timeout: .seconds(30)) { try await store.job(id: again)?.state == .completed }
            }
        }
    }

    @Test("with no notifications at all, the poll runs jobs")
    func pollOnly() async throws {
        let store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        var config = JobWorker.Configuration(workerID: "w")
        config.pollInterval = .milliseconds(300)
        let worker = JobWorker(store: store, handlers: [.noop: NoopJobHandler()], configuration: config, wakeup: Wakeup(), logger: Self.logger)
        try await Self.run(worker) {
            try await Task.sleep(for: .milliseconds(400))
            let ids = try await (0..<20).asyncMap { n in
                try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/\(n)", documentVersion: 1), now: epochMillis(Date())).id
            }
            try await eventually("every polled job to complete") { try await store.jobCounts()[.noop]?[.completed] == ids.count }
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ body: (Element) async throws -> T) async throws -> [T] {
        var out: [T] = []
        for e in self { out.append(try await body(e)) }
        return out
    }
}
