import CRDT
import Foundation
import GRDB
import Logging
import Model
import SyncClient
import SyncProtocol
import SyncServer

/// `nest-bench client`: the client core's targets (issue #4), each against a
/// reference measured in the same run — local edit latency against a bare
/// durable SQLite insert, cold open against bare reads of the same rows, and
/// reconnect after 10 of 1,000 documents changed against a naive full re-sync.
enum ClientBenchCommand {
    struct Result: Encodable {
        var edits = 0
        var edit_p50_ms = 0.0
        var edit_p99_ms = 0.0
        var raw_insert_p50_ms = 0.0
        var raw_insert_p99_ms = 0.0
        var documents = 0
        var cold_open_list_ms = 0.0
        var cold_open_all_ms = 0.0
        var raw_read_all_ms = 0.0
        var reconnect_changed = 0
        var reconnect_ms = 0.0
        var reconnect_bytes = 0
        var full_resync_ms = 0.0
        var full_resync_bytes = 0
        var reconnect_bytes_ratio = 0.0
        var vector_resync_ms = 0.0
        var vector_resync_bytes = 0
        var reconnect_vs_vector_ratio = 0.0
    }

    static func run(_ argv: [String]) async -> Int32 {
        var documents = 1_000, edits = 2_000, json = false
        var i = 0
        while i < argv.count {
            switch argv[i] {
            case "--json": json = true
            case "--documents": i += 1; documents = argv.count > i ? Int(argv[i]) ?? documents : documents
            case "--edits": i += 1; edits = argv.count > i ? Int(argv[i]) ?? edits : edits
            default:
                FileHandle.standardError.write(Data("usage: nest-bench client [--documents N] [--edits N] [--json]\n".utf8))
                return 2
            }
            i += 1
        }
        do {
            var r = Result()
            let root = (NSTemporaryDirectory() as NSString).appendingPathComponent("nest-bench-client-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(atPath: root) }
            try editLatency(root: root, edits: edits, into: &r)
            try coldOpen(root: root, documents: documents, into: &r)
            try await reconnect(root: root, documents: documents, into: &r)
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                print(String(decoding: try e.encode(r), as: UTF8.self))
            } else {
                print(String(format: "edit → durable:     p50 %.3f ms, p99 %.3f ms over %d edits (bare SQLite insert: p50 %.3f, p99 %.3f ms; ratio p99 %.1f×)",
                             r.edit_p50_ms, r.edit_p99_ms, r.edits, r.raw_insert_p50_ms, r.raw_insert_p99_ms, r.edit_p99_ms / max(r.raw_insert_p99_ms, 0.001)))
                print(String(format: "cold open %d docs:  list + status %.1f ms; every document loaded and read %.1f ms (bare row reads %.1f ms)",
                             r.documents, r.cold_open_list_ms, r.cold_open_all_ms, r.raw_read_all_ms))
                print(String(format: "reconnect, %d of %d changed: %.1f ms, %d bytes; full re-sync (download all) %.1f ms, %d bytes: bytes ratio %.2f %%",
                             r.reconnect_changed, r.documents, r.reconnect_ms, r.reconnect_bytes, r.full_resync_ms, r.full_resync_bytes, r.reconnect_bytes_ratio * 100))
                print(String(format: "                    state-vector exchange for all %d (no catalog) %.1f ms, %d bytes: bytes ratio %.2f %%",
                             r.documents, r.vector_resync_ms, r.vector_resync_bytes, r.reconnect_vs_vector_ratio * 100))
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench client: \(error)\n".utf8))
            return 1
        }
    }

    /// Appends to a draft's caption `edits` times, each durable before the call returns.
    static func editLatency(root: String, edits: Int, into r: inout Result) throws {
        let store = try LocalStore(directory: (root as NSString).appendingPathComponent("latency"))
        let name = try DocumentName(parsing: "w1/draft/bench")
        try store.edit(name.description, user: "bench") { doc in try Draft(name: name, doc: doc).create(title: "Bench") }
        var times: [Double] = []
        for i in 0..<edits {
            let t = ContinuousClock.now
            try store.edit(name.description, user: "bench") { doc in try Draft(name: name, doc: doc).appendCaption(i % 40 == 0 ? "\n" : "x") }
            times.append(Stats.ms(since: t))
        }
        // Reference: one durable insert of an update-sized blob, same file settings.
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: (root as NSString).appendingPathComponent("raw.sqlite"), configuration: config)
        try pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)") }
        let blob = Data(repeating: 7, count: 30)
        var raw: [Double] = []
        for _ in 0..<edits {
            let t = ContinuousClock.now
            try pool.write { db in try db.execute(sql: "INSERT INTO t (data) VALUES (?)", arguments: [blob]) }
            raw.append(Stats.ms(since: t))
        }
        r.edits = edits
        r.edit_p50_ms = Stats.percentile(times, 0.5)
        r.edit_p99_ms = Stats.percentile(times, 0.99)
        r.raw_insert_p50_ms = Stats.percentile(raw, 0.5)
        r.raw_insert_p99_ms = Stats.percentile(raw, 0.99)
    }

    /// Fills a store with `documents` drafts, then opens it cold.
    static func coldOpen(root: String, documents: Int, into r: inout Result) throws {
        let dir = (root as NSString).appendingPathComponent("many")
        do {
            let store = try LocalStore(directory: dir)
            for d in 0..<documents { try fillDraft(store, d) }
        }
        var t = ContinuousClock.now
        let store = try LocalStore(directory: dir)
        let names = try store.documentNames()
        _ = try store.outboxSummary()
        r.cold_open_list_ms = Stats.ms(since: t)
        t = ContinuousClock.now
        var titles = 0
        for n in names {
            let name = try DocumentName(parsing: n)
            titles += try store.read(n) { try Draft(name: name, doc: $0).title.count }
        }
        r.cold_open_all_ms = r.cold_open_list_ms + Stats.ms(since: t)
        r.documents = names.count
        let pool = try DatabasePool(path: store.path)
        t = ContinuousClock.now
        let bytes = try pool.read { db in
            try Data.fetchAll(db, sql: "SELECT snapshot FROM documents").reduce(0) { $0 + $1.count }
                + Data.fetchAll(db, sql: "SELECT data FROM updates").reduce(0) { $0 + $1.count }
        }
        r.raw_read_all_ms = Stats.ms(since: t)
        if titles == 0 || bytes == 0 { throw ClientError.storage("benchmark store is empty") }
    }

    static func fillDraft(_ store: LocalStore, _ d: Int) throws {
        let name = try DocumentName(parsing: "w1/draft/d\(d)")
        try store.edit(name.description, user: "bench") { doc in
            let draft = try Draft(name: name, doc: doc)
            try draft.create(title: "Post \(d)")
            try draft.replaceCaption(String(repeating: "Spring colours for everyone. ", count: 6))
            try draft.addHashtags(["spring", "launch"])
        }
        try store.compact(name.description)
    }

    /// Two devices on an embedded server; one changes 10 documents, the other reconnects.
    static func reconnect(root: String, documents: Int, into r: inout Result) async throws {
        var config = ServerConfiguration()
        config.port = 0
        config.dataDirectory = (root as NSString).appendingPathComponent("server")
        config.jwtSecret = String(repeating: "benchmark-secret-", count: 3)
        config.updatesPerSecond = 100_000
        config.maxDocumentsPerConnection = max(1_000, documents)
        var logger = Logger(label: "nest-bench")
        logger.logLevel = .critical
        try await NestServerApp.withStore(config, logger: logger) { store in
            try await store.setMembership(workspaceID: "w1", userID: "a", role: .editor)
            try await store.setMembership(workspaceID: "w1", userID: "b", role: .editor)
            try await store.setMembership(workspaceID: "w1", userID: "a2", role: .viewer)
        }
        let verifier = try await TokenVerifier(secret: config.jwtSecret ?? "")
        let (ports, feed) = AsyncStream<Int>.makeStream()
        let serverConfig = config, serverLogger = logger
        let server = Task { try await NestServerApp.run(serverConfig, logger: serverLogger) { feed.yield($0) } }
        defer { server.cancel() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw ClientError.network("embedded server did not start") }
        func device(_ user: String) async throws -> LocalStore {
            let s = try LocalStore(directory: (root as NSString).appendingPathComponent("device-\(user)"))
            try s.saveProfile(Profile(server: "http://127.0.0.1:\(port)", token: try await verifier.issue(user: user, ttl: 3600), user: user))
            return s
        }
        let a = try await device("a"), b = try await device("b")
        for d in 0..<documents { try fillDraft(a, d) }
        func sync(_ s: LocalStore, full: Bool = false) async throws -> (Double, SyncReport) {
            var o = SyncOptions(mode: .once, timeout: 300)
            o.fullResync = full
            let t = ContinuousClock.now
            let report = try await SyncEngine(store: s, logger: logger).run(o)
            guard report.complete else { throw ClientError.timeout("benchmark sync did not complete") }
            return (Stats.ms(since: t), report)
        }
        _ = try await sync(a)
        _ = try await sync(b)
        func changeTen(_ offset: Int) throws {
            for k in 0..<10 {
                let name = try DocumentName(parsing: "w1/draft/d\((k * (documents / 10) + offset) % documents)")
                try b.edit(name.description, user: "b") { doc in try Draft(name: name, doc: doc).appendCaption(" Now 20% off.") }
            }
        }
        try changeTen(0)
        _ = try await sync(b)
        let (t1, rep1) = try await sync(a)
        try changeTen(1)
        _ = try await sync(b)
        let (t2, rep2) = try await sync(a, full: true)
        // A naive re-sync downloads every document again, as a fresh device does.
        let (t3, rep3) = try await sync(try await device("a2"))
        r.reconnect_changed = rep1.documentsChanged
        r.reconnect_ms = t1
        r.reconnect_bytes = rep1.bytesSent + rep1.bytesReceived
        r.vector_resync_ms = t2
        r.vector_resync_bytes = rep2.bytesSent + rep2.bytesReceived
        r.full_resync_ms = t3
        r.full_resync_bytes = rep3.bytesSent + rep3.bytesReceived
        r.reconnect_bytes_ratio = Double(r.reconnect_bytes) / Double(max(1, r.full_resync_bytes))
        r.reconnect_vs_vector_ratio = Double(r.reconnect_bytes) / Double(max(1, r.vector_resync_bytes))
    }
}
