import AsyncHTTPClient
import CRDT
import Crypto
import Foundation
import Logging
import Model
import NIOSSL
import SyncProtocol
import SyncServer
import Synchronization
import TestHarness

/// `nest-bench push`: the push relay's figures, with the real store, rooms,
/// projector, relay, worker, handlers and providers in this process, and
/// local providers on loopback.
///
/// 1. latency: a comment that @mentions a user, committed through a room;
///    from the commit to the local ntfy server receiving the push.
/// 2. drain: N notifications queued for 100 devices, then the worker
///    started: notifications/s delivered through the queue (each one claimed,
///    sent, logged and completed durably) to a local APNs (HTTP/2 over TLS,
///    one connection) and to a local Web Push service (encryption and VAPID
///    included). The reference, in the same run: the same provider sending
///    the same number with the same concurrency straight, without the queue.
enum PushBenchCommand {
    struct Options {
        var samples = 200
        var notifications = 10_000
        var concurrency = 64
        var databaseURL: String?
        var json = false
    }

    static func run(_ args: [String]) async -> Int32 {
        var o = Options()
        var it = args.makeIterator()
        while let a = it.next() {
            switch a {
            case "--samples": o.samples = it.next().flatMap(Int.init) ?? o.samples
            case "--notifications": o.notifications = it.next().flatMap(Int.init) ?? o.notifications
            case "--concurrency": o.concurrency = it.next().flatMap(Int.init) ?? o.concurrency
            case "--database-url": o.databaseURL = it.next()
            case "--json": o.json = true
            default:
                FileHandle.standardError.write(Data("unknown option \(a)\n".utf8))
                return 2
            }
        }
        do {
            var report: [String: Double] = [:]
            report.merge(try await latency(samples: o.samples)) { a, _ in a }
            report.merge(try await queueAlone(count: o.notifications, concurrency: o.concurrency)) { a, _ in a }
            for provider in ["apns", "webpush"] {
                report.merge(try await drain(provider: provider, count: o.notifications, concurrency: o.concurrency, databaseURL: o.databaseURL)) { a, _ in a }
            }
            if o.json {
                print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench push: \(error)\n".utf8))
            return 1
        }
    }

    static var logger: Logger { JobsBenchCommand.logger }

    static func sqliteStore() async throws -> (SQLiteDocumentStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-bench-push-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = try SQLiteDocumentStore(path: dir.appendingPathComponent("nest.sqlite").path)
        try await store.migrate()
        return (store, dir)
    }

    static func latency(samples: Int) async throws -> [String: Double] {
        let (store, dir) = try await sqliteStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await store.setMembership(workspaceID: "bench", userID: "alice", role: .editor)
        try await store.setMembership(workspaceID: "bench", userID: "bob", role: .editor)
        let ntfy = FakeNtfy()
        try await ntfy.start()
        defer { ntfy.stop() }
        _ = try await store.registerDevice(userID: "bob", address: try DeviceAddress(provider: "ntfy", fields: [.init("url", ntfy.topicURL("bob"))]),
                                           now: epochMillis(Date()))
        let wakeup = Wakeup()
        let relay = PushRelay(store: store, wakeup: wakeup, editsWindow: .seconds(60), backgroundInterval: .seconds(1200), logger: logger)
        let projector = Projector(store: store, triggers: ProjectionTriggers(jobs: store, wakeup: wakeup, logger: logger, now: { epochMillis(Date()) },
                                                                             relay: relay), logger: logger)
        let registry = RoomRegistry(store: store, onCommit: { id, seq, user in
            projector.committed(documentID: id, seq: seq)
            relay.committed(documentID: id, userID: user)
        })
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let handlers: [JobKind: any JobHandler] = [
            .pushNotify: PushNotifyHandler(store: store, live: LiveDevices(), wakeup: wakeup),
            .pushEdits: PushEditsHandler(store: store, relay: relay),
            .pushDeliver: PushDeliverHandler(store: store, providers: ["ntfy": NtfyProvider(http: http)], metrics: PushMetrics(),
                                             backgroundInterval: 1_200_000, logger: logger),
        ]
        let worker = JobWorker(store: store, handlers: handlers, configuration: .init(workerID: "push"), wakeup: wakeup, logger: logger)
        let tasks = [Task { try? await projector.run() }, Task { try? await relay.run() }, Task { try? await worker.run() }]
        var latencies: [Double] = []
        for n in 0..<samples {
            let name = try DocumentName(workspace: "bench", kind: .draft, id: "m\(n)")
            let doc = Doc(clientID: 11)
            var updates: [[UInt8]] = []
            doc.onUpdate { u, _ in updates.append(u) }
            let draft = try Draft(name: name, doc: doc)
            try draft.create(title: "Post \(n)")
            try draft.addComment(author: "alice", text: "@bob have a look")
            guard case .acked = await registry.room(name.description).apply(try Updates.merge(updates), from: 1, userID: "alice", role: .editor) else {
                throw ValidationFailure(description: "the comment was not committed")
            }
            let committed = ContinuousClock.now
            let deadline = committed + .seconds(10)
            while ntfy.messages.count <= n, ContinuousClock.now < deadline { try await Task.sleep(for: .microseconds(200)) }
            guard let got = ntfy.messages.last, ntfy.messages.count == n + 1 else { throw ValidationFailure(description: "push \(n) did not arrive") }
            latencies.append(Stats.ms(got.receivedAt - committed))
        }
        for t in tasks { t.cancel() }
        for t in tasks { _ = await t.result }
        try await http.shutdown()
        print(String(format: "push latency (SQLite, ntfy on loopback): %d @mentions, commit to the provider receiving the push p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                     samples, Stats.percentile(latencies, 0.5), Stats.percentile(latencies, 0.99), latencies.max() ?? 0))
        return ["push_latency_p50_ms": Stats.percentile(latencies, 0.5), "push_latency_p99_ms": Stats.percentile(latencies, 0.99)]
    }

    /// The other reference: the same queue draining no-op jobs (claim and complete, nothing sent).
    static func queueAlone(count: Int, concurrency: Int) async throws -> [String: Double] {
        let (store, dir) = try await sqliteStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in stride(from: t, to: count, by: 8) {
                        _ = try await store.enqueue(NewJob(kind: .noop, workspace: "bench", documentID: "bench/draft/n\(i)", documentVersion: 0), now: epochMillis(Date()))
                    }
                }
            }
            try await group.waitForAll()
        }
        var config = JobWorker.Configuration(workerID: "noop-drain")
        config.concurrency = concurrency
        let worker = JobWorker(store: store, handlers: [.noop: NoopJobHandler()], configuration: config, wakeup: Wakeup(), logger: logger)
        let start = ContinuousClock.now
        let running = Task { try? await worker.run() }
        while (try await store.jobCounts()[.noop]?[.completed] ?? 0) < count { try await Task.sleep(for: .milliseconds(20)) }
        let rate = Double(count) / (Stats.ms(ContinuousClock.now - start) / 1000)
        running.cancel()
        _ = await running.result
        print(String(format: "the queue alone (SQLite, %d at a time): %d no-op jobs drained at %.0f/s", concurrency, count, rate))
        return ["push_queue_noop_per_s": rate]
    }

    struct ValidationFailure: Error, CustomStringConvertible { var description: String }

    static func drain(provider name: String, count: Int, concurrency: Int, databaseURL: String?) async throws -> [String: Double] {
        let http: HTTPClient, provider: any PushProvider, addresses: [DeviceAddress], stop: @Sendable () -> Void
        var connections: @Sendable () -> Int = { 0 }
        let received: @Sendable () -> Int
        switch name {
        case "apns":
            let key = P256.Signing.PrivateKey()
            let fake = FakeAPNs(teamID: "TEAM123456", keyID: "KEY1234567", publicKey: key.publicKey)
            try await fake.start()
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(fake.certificateFile)]
            http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
            provider = APNsProvider(http: http, token: APNsProviderToken(key: key, keyID: "KEY1234567", teamID: "TEAM123456"), baseURL: fake.baseURL)
            addresses = try (0..<100).map { try DeviceAddress(provider: "apns", fields: [.init("token", String(format: "%064x", $0)), .init("topic", "app.bench")]) }
            stop = { fake.stop() }
            connections = { Set(fake.requests.map(\.connection)).count }
            received = { fake.requests.count }
        default:
            let sink = HTTPSink(status: 201)
            try await sink.start()
            http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            provider = WebPushProvider(http: http, vapid: VAPID(key: P256.Signing.PrivateKey(), subject: "mailto:bench@nest.test"))
            addresses = try (0..<100).map { i in
                let key = Base64URL.encode(Array(P256.KeyAgreement.PrivateKey().publicKey.x963Representation))
                return try DeviceAddress(provider: "webpush", fields: [.init("endpoint", "http://127.0.0.1:\(sink.port)/push/\(i)"), .init("p256dh", key),
                                                                       .init("auth", Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255) }))])
            }
            stop = { sink.stop() }
            received = { sink.received }
        }
        defer { stop() }
        let n = PushNotification(event: .aiReady, userID: "bob", documentID: "bench/draft/d", title: "AI caption ready for “Benchmark”",
                                 body: "Open the draft to accept or reject it.", actor: "")

        // The reference: the provider alone, the same sends with the same concurrency.
        let devices = addresses.map { RegisteredDevice(id: RegisteredDevice.id(for: $0), userID: "bob", address: $0, registeredAt: 0) }
        let bareStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<concurrency {
                group.addTask {
                    for i in stride(from: w, to: count, by: concurrency) {
                        guard case .delivered = await provider.send(n, to: devices[i % devices.count]) else {
                            throw ValidationFailure(description: "a bare send was not delivered")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let bareRate = Double(count) / (Stats.ms(ContinuousClock.now - bareStart) / 1000)

        // Through the queue: every notification a durable job, claimed, sent, logged and completed.
        let (store, dir) = try await sqliteStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        var registered: [String] = []
        for a in addresses { registered.append(try await store.registerDevice(userID: "bob", address: a, now: 1).id) }
        let ids = registered
        let enqueueStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in stride(from: t, to: count, by: 8) {
                        let args = PushDeliveryArguments(deviceID: ids[i % ids.count], notification: n)
                        let json = String(decoding: try JSONEncoder().encode(args), as: UTF8.self)
                        _ = try await store.enqueue(NewJob(kind: .pushDeliver, workspace: "bench", documentID: n.documentID, documentVersion: 0,
                                                           arguments: json, maxAttempts: 8, priority: 0), now: epochMillis(Date()))
                    }
                }
            }
            try await group.waitForAll()
        }
        let enqueueRate = Double(count) / (Stats.ms(ContinuousClock.now - enqueueStart) / 1000)
        let before = received()
        let wakeup = Wakeup()
        var config = JobWorker.Configuration(workerID: "push-drain")
        config.concurrency = concurrency
        let handler = PushDeliverHandler(store: store, providers: [name: provider], metrics: PushMetrics(), backgroundInterval: 0, logger: logger)
        let worker = JobWorker(store: store, handlers: [.pushDeliver: handler], configuration: config, wakeup: wakeup, logger: logger)
        let start = ContinuousClock.now
        let running = Task { try? await worker.run() }
        while (try await store.jobCounts()[.pushDeliver]?[.completed] ?? 0) < count {
            try await Task.sleep(for: .milliseconds(20))
            if ContinuousClock.now - start > .seconds(300) { throw ValidationFailure(description: "the queue did not drain in 300 s") }
        }
        let drained = ContinuousClock.now - start
        running.cancel()
        _ = await running.result
        try await http.shutdown()
        let rate = Double(count) / (Stats.ms(drained) / 1000)
        let sent = received() - before
        let label = name == "apns" ? "APNs (HTTP/2 over TLS)" : "Web Push (aes128gcm + VAPID)"
        print(String(format: "push drain, %@, SQLite queue, %d at a time: %d notifications queued (%.0f/s), drained at %.0f/s; the provider alone: %.0f/s (queue at %.2f× of it); %d requests received, %@",
                     label, concurrency, count, enqueueRate, rate, bareRate, rate / bareRate, sent,
                     name == "apns" ? "over \(connections()) connection(s) in all" : "each encrypted for its subscription"))
        return ["push_drain_\(name)_per_s": rate, "push_bare_\(name)_per_s": bareRate, "push_enqueue_\(name)_per_s": enqueueRate,
                "push_drain_\(name)_received": Double(sent)]
    }
}
