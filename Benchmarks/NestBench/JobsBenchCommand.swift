import AsyncHTTPClient
import CRDT
import Foundation
import Logging
import Model
import PostgresNIO
import SyncProtocol
import SyncServer
import Synchronization
import TestHarness

/// `nest-bench jobs`: the job engine's figures. Each part runs the real
/// store, rooms, projector, worker and handlers in this process.
///
/// 1. queue: N no-op jobs inserted by 8 tasks while two workers, each on its
///    own PostgreSQL connection pool and notification listener (two nodes),
///    claim and complete them: jobs/s enqueued and completed.
/// 2. idle start: one job at a time into an idle queue; from the insert to
///    the handler's start, with the notification listener and, in the same
///    run, with the 1 s poll alone (the reference).
/// 3. AI: requests answered by a local provider; from the provider's last
///    byte to the subscribed device receiving the ready suggestion.
/// 4. projections: drafts updated at R updates/s through rooms; from each
///    commit to its document's projection being current.
enum JobsBenchCommand {
    struct Options {
        var databaseURL = ProcessInfo.processInfo.environment["NEST_BENCH_DATABASE_URL"]
        var jobs = 10_000
        var idleSamples = 200
        var aiRequests = 100
        var projectionRate = 1_000
        var projectionSeconds = 10
        var json = false
    }

    static func run(_ args: [String]) async -> Int32 {
        var o = Options()
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--database-url": o.databaseURL = it.next()
            case "--jobs": o.jobs = it.next().flatMap(Int.init) ?? o.jobs
            case "--idle-samples": o.idleSamples = it.next().flatMap(Int.init) ?? o.idleSamples
            case "--ai-requests": o.aiRequests = it.next().flatMap(Int.init) ?? o.aiRequests
            case "--projection-rate": o.projectionRate = it.next().flatMap(Int.init) ?? o.projectionRate
            case "--projection-seconds": o.projectionSeconds = it.next().flatMap(Int.init) ?? o.projectionSeconds
            case "--json": o.json = true
            default:
                FileHandle.standardError.write(Data("unknown option \(a)\n".utf8))
                return 2
            }
        }
        guard let url = o.databaseURL else {
            FileHandle.standardError.write(Data("nest-bench jobs needs PostgreSQL: --database-url postgres://... or NEST_BENCH_DATABASE_URL (scripts/postgres-test-server starts one)\n".utf8))
            return 2
        }
        do {
            var report: [String: Double] = [:]
            report.merge(try await queue(url: url, jobs: o.jobs)) { a, _ in a }
            report.merge(try await idleStart(url: url, samples: o.idleSamples)) { a, _ in a }
            report.merge(try await aiLatency(requests: o.aiRequests)) { a, _ in a }
            report.merge(try await projectionLag(rate: o.projectionRate, seconds: o.projectionSeconds)) { a, _ in a }
            if o.json {
                let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench jobs: \(error)\n".utf8))
            return 1
        }
    }

    static var logger: Logger {
        var l = Logger(label: "nest-bench.jobs")
        l.logLevel = .error
        return l
    }

    /// A PostgreSQL store on a database of its own, with its client running; `body` runs while it does.
    static func withPostgres<T: Sendable>(_ url: String, _ body: @Sendable (PostgresDocumentStore) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresDocumentStore.configuration(url: url), backgroundLogger: logger)
        let running = Task { await client.run() }
        defer { running.cancel() }
        let store = PostgresDocumentStore(client: client, logger: logger, operationTimeout: .seconds(60))
        try await store.migrate()
        return try await body(store)
    }

    /// A fresh database named for this run, on the server `url` points at.
    static func freshDatabase(_ url: String) async throws -> String {
        let name = "bench_jobs_\(UInt32.random(in: 0...UInt32.max))"
        let admin = PostgresClient(configuration: try PostgresDocumentStore.configuration(url: url), backgroundLogger: logger)
        let running = Task { await admin.run() }
        defer { running.cancel() }
        try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        var parts = URLComponents(string: url)!
        parts.path = "/" + name
        return parts.string!
    }

    static func queue(url: String, jobs: Int) async throws -> [String: Double] {
        let db = try await freshDatabase(url)
        return try await withPostgres(db) { inserter in
            // Two nodes: each its own pool, listener and worker.
            let done = Mutex(0)
            let finished = Wakeup()
            final class Counting: JobHandler {
                let done: @Sendable () -> Void
                init(_ done: @escaping @Sendable () -> Void) { self.done = done }
                func run(_ job: Job) async throws(JobFailure) -> String {
                    done()
                    return "{}"
                }
            }
            let handler = Counting { if done.withLock({ $0 += 1; return $0 }) == jobs { finished.signal() } }
            var stops: [Task<Void, Never>] = []
            for node in 0..<2 {
                let client = PostgresClient(configuration: try PostgresDocumentStore.configuration(url: db), backgroundLogger: logger)
                let store = PostgresDocumentStore(client: client, logger: logger)
                let wakeup = Wakeup()
                var config = JobWorker.Configuration(workerID: "bench-node-\(node)")
                config.concurrency = 32
                let worker = JobWorker(store: store, handlers: [.noop: handler], configuration: config, wakeup: wakeup, logger: logger)
                let listener = PostgresJobListener(store: store, wakeup: wakeup, logger: logger)
                stops.append(Task {
                    await withTaskGroup(of: Void.self) { g in
                        g.addTask { await client.run() }
                        g.addTask { try? await listener.run() }
                        g.addTask { try? await worker.run() }
                    }
                })
            }
            defer { for s in stops { s.cancel() } }
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        for n in stride(from: t, to: jobs, by: 8) {
                            _ = try await inserter.enqueue(NewJob(kind: .noop, workspace: "bench", documentID: "bench/draft/q\(n)", documentVersion: 0),
                                                           now: epochMillis(Date()))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let enqueued = ContinuousClock.now - start
            while done.withLock({ $0 }) < jobs { await finished.wait(timeout: .seconds(1)) }
            let total = ContinuousClock.now - start
            let counts = try await inserter.jobCounts()[.noop] ?? [:]
            let twice = try await inserter.jobs(state: .completed, kind: .noop, limit: jobs + 10).filter { $0.attempt != 1 }.count
            let enqueueRate = Double(jobs) / (Stats.ms(enqueued) / 1000), completeRate = Double(jobs) / (Stats.ms(total) / 1000)
            print("queue (PostgreSQL, two workers on their own pools, 8 inserting tasks): \(jobs) no-op jobs")
            print(String(format: "  enqueued in %.2f s (%.0f jobs/s); all completed in %.2f s (%.0f jobs/s end to end); completed %d, run more than once %d",
                         Stats.ms(enqueued) / 1000, enqueueRate, Stats.ms(total) / 1000, completeRate, counts[.completed] ?? 0, twice))
            return ["queue_enqueue_per_s": enqueueRate, "queue_completed_per_s": completeRate, "queue_run_twice": Double(twice)]
        }
    }

    static func idleStart(url: String, samples: Int) async throws -> [String: Double] {
        var out: [String: Double] = [:]
        for notified in [true, false] {
            let db = try await freshDatabase(url)
            let latencies = try await withPostgres(db) { store in
                let started = Mutex<[Int64: ContinuousClock.Instant]>([:])
                final class Recording: JobHandler {
                    let record: @Sendable (Int64) -> Void
                    init(_ record: @escaping @Sendable (Int64) -> Void) { self.record = record }
                    func run(_ job: Job) async throws(JobFailure) -> String {
                        record(job.id)
                        return "{}"
                    }
                }
                let wakeup = Wakeup()
                let worker = JobWorker(store: store, handlers: [.noop: Recording { id in started.withLock { $0[id] = .now } }],
                                       configuration: .init(workerID: "idle"), wakeup: wakeup, logger: logger)
                let listener = PostgresJobListener(store: store, wakeup: wakeup, logger: logger)
                let tasks = [Task { try? await worker.run() }] + (notified ? [Task { try? await listener.run() }] : [])
                defer { for t in tasks { t.cancel() } }
                try await Task.sleep(for: .milliseconds(500))
                var latencies: [Double] = []
                for n in 0..<samples {
                    // Idle: the worker has gone back to waiting.
                    try await Task.sleep(for: .milliseconds(Int64.random(in: 20...60)))
                    let before = ContinuousClock.now
                    let id = try await store.enqueue(NewJob(kind: .noop, workspace: "bench", documentID: "bench/draft/i\(n)", documentVersion: 0),
                                                     now: epochMillis(Date())).id
                    while true {
                        if let at = started.withLock({ $0[id] }) {
                            latencies.append(Stats.ms(at - before))
                            break
                        }
                        try await Task.sleep(for: .microseconds(200))
                    }
                }
                return latencies
            }
            let label = notified ? "LISTEN/NOTIFY" : "poll alone (1 s)"
            print(String(format: "idle start, %@: %d jobs one at a time, insert to handler start p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                         label, samples, Stats.percentile(latencies, 0.5), Stats.percentile(latencies, 0.99), latencies.max() ?? 0))
            let key = notified ? "idle_start_notify" : "idle_start_poll"
            out[key + "_p50_ms"] = Stats.percentile(latencies, 0.5)
            out[key + "_p99_ms"] = Stats.percentile(latencies, 0.99)
        }
        return out
    }

    static func aiLatency(requests: Int) async throws -> [String: Double] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-bench-ai-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteDocumentStore(path: dir.appendingPathComponent("nest.sqlite").path)
        try await store.migrate()
        let wakeup = Wakeup()
        let projector = Projector(store: store, triggers: ProjectionTriggers(jobs: store, wakeup: wakeup, logger: logger, now: { epochMillis(Date()) }),
                                  logger: logger)
        let registry = RoomRegistry(store: store, onCommit: { id, seq, _ in projector.committed(documentID: id, seq: seq) })
        let fake = FakeChatProvider()
        try await fake.start()
        defer { fake.stop() }
        fake.answerAlways(.stream(text: "A short caption for the benchmark, with a #hashtag at the end.", pieceDelay: .milliseconds(1)))
        let config = AIProviderConfiguration(baseURL: fake.baseURL, apiKey: fake.apiKey, model: fake.model)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: ChatCompletionsClient.httpConfiguration(for: config))
        let handler = AIJobHandler(writer: ServerDocumentWriter(registry: registry), client: ChatCompletionsClient(configuration: config, http: http),
                                   logger: logger)
        let worker = JobWorker(store: store, handlers: [.aiGenerate: handler], configuration: .init(workerID: "ai"), wakeup: wakeup, logger: logger)
        let tasks = [Task { try? await projector.run() }, Task { try? await worker.run() }]
        defer { for t in tasks { t.cancel() } }
        var latencies: [Double] = []
        for n in 0..<requests {
            let name = try DocumentName(workspace: "bench", kind: .draft, id: "ai\(n)")
            let device = Doc(clientID: 10)
            let ready = Mutex<ContinuousClock.Instant?>(nil)
            let deviceLock = Mutex(device)
            _ = try await registry.room(name.description).subscribe(UInt64(n + 100)) { event in
                guard case .update(let u, _) = event else { return }
                let now = ContinuousClock.now
                deviceLock.withLock { d in
                    try? d.applyUpdate(u)
                    if let draft = try? Draft(name: name, doc: d), draft.aiRequests.first?.aiStatus == .ready {
                        ready.withLock { if $0 == nil { $0 = now } }
                    }
                }
            }
            let client = Doc(clientID: 11)
            var updates: [[UInt8]] = []
            client.onUpdate { u, _ in updates.append(u) }
            let draft = try Draft(name: name, doc: client)
            try draft.create(title: "Benchmark \(n)")
            _ = try draft.requestAI(kind: "caption", prompt: "a caption", by: "bench")
            _ = await registry.room(name.description).apply(try Updates.merge(updates), from: 1, userID: "bench", role: .editor)
            while ready.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(1)) }
            guard let last = fake.streamsFinished.last, let seen = ready.withLock({ $0 }) else { continue }
            latencies.append(Stats.ms(seen - last))
        }
        try await http.shutdown()
        print(String(format: "AI result (local provider, SQLite): %d requests, provider's last byte to the device's ready suggestion p50 %.1f ms, p99 %.1f ms",
                     requests, Stats.percentile(latencies, 0.5), Stats.percentile(latencies, 0.99)))
        return ["ai_result_p50_ms": Stats.percentile(latencies, 0.5), "ai_result_p99_ms": Stats.percentile(latencies, 0.99)]
    }

    static func projectionLag(rate: Int, seconds: Int) async throws -> [String: Double] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-bench-proj-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteDocumentStore(path: dir.appendingPathComponent("nest.sqlite").path)
        try await store.migrate()
        struct Times {
            var committed: [String: [(Int, ContinuousClock.Instant)]] = [:]
            var projected: [String: [(Int, ContinuousClock.Instant)]] = [:]
        }
        let times = Mutex(Times())
        let projector = Projector(store: store, triggers: nil, logger: logger, onProjected: { p in
            let now = ContinuousClock.now
            times.withLock { $0.projected[p.documentID, default: []].append((p.version, now)) }
        })
        let registry = RoomRegistry(store: store, onCommit: { id, seq, _ in
            let now = ContinuousClock.now
            times.withLock { $0.committed[id, default: []].append((seq, now)) }
            projector.committed(documentID: id, seq: seq)
        })
        let running = Task { try? await projector.run() }
        defer { running.cancel() }
        let documents = 50
        let perDocument = max(1, rate / documents)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for d in 0..<documents {
                group.addTask {
                    let name = try DocumentName(workspace: "bench", kind: .draft, id: "p\(d)")
                    let doc = Doc(clientID: 1_000 + d)
                    var pending: [[UInt8]] = []
                    doc.onUpdate { u, _ in pending.append(u) }
                    let draft = try Draft(name: name, doc: doc)
                    try draft.create(title: "P\(d)")
                    let room = await registry.room(name.description)
                    let interval = Duration.milliseconds(1000 / Int64(perDocument))
                    var next = start + .milliseconds(Int64(d) * 1000 / Int64(documents * perDocument))
                    for i in 0..<(perDocument * seconds) {
                        if i > 0 { try draft.setTitle("P\(d) edit \(i)") }
                        let u = pending.count == 1 ? pending[0] : try Updates.merge(pending)
                        pending = []
                        _ = await room.apply(u, from: 1, userID: "bench", role: .editor)
                        next = next + interval
                        try await Task.sleep(until: next)
                    }
                }
            }
            try await group.waitForAll()
        }
        let sent = ContinuousClock.now - start
        // Caught up: each document's last commit projected.
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let caughtUp = times.withLock { t in t.committed.allSatisfy { id, c in (t.projected[id]?.last?.0 ?? 0) >= (c.last?.0 ?? 0) } }
            if caughtUp { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let t = times.withLock { $0 }
        var lags: [Double] = []
        var missing = 0
        for (id, commits) in t.committed {
            let projections = t.projected[id] ?? []
            for (seq, at) in commits {
                if let p = projections.first(where: { $0.0 >= seq && $0.1 >= at }) { lags.append(Stats.ms(p.1 - at)) } else { missing += 1 }
            }
        }
        let achieved = Double(lags.count + missing) / (Stats.ms(sent) / 1000)
        print(String(format: "projections (SQLite, %d drafts): %.0f updates/s committed for %.1f s; commit to projection current p50 %.1f ms, p99 %.1f ms, max %.1f ms; never projected %d",
                     documents, achieved, Stats.ms(sent) / 1000, Stats.percentile(lags, 0.5), Stats.percentile(lags, 0.99), lags.max() ?? 0, missing))
        return ["projection_updates_per_s": achieved, "projection_lag_p50_ms": Stats.percentile(lags, 0.5),
                "projection_lag_p99_ms": Stats.percentile(lags, 0.99), "projection_missing": Double(missing)]
    }
}
