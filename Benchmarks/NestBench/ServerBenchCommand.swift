import CRDT
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import SyncProtocol
import Synchronization

/// `nest-bench server`: load on loopback over the y-websocket protocol, run
/// against `nest-server` (release build beside this binary; every update is
/// relayed once validated and committed to SQLite) and, in the same run, against
/// Debian's y-websocket reference server (in memory, no persistence):
///
/// - rooms × clients per room, every client writing at a fixed rate: fan-out
///   latency p50/p99 (send → each other member receives), deliveries/s, and
///   server CPU per delivery;
/// - `--idle N` connections held open during the load: server RSS per connection;
/// - `--join N`: N clients joining one large document at once: time until all are synced.
enum ServerBenchCommand {
    struct Options {
        var rooms = 100, perRoom = 2, seconds = 10.0, rate = 5.0, idle = 0, join = 0, joinKB = 2_048, reconnect = 0
        /// Users the reconnect storm's clients belong to (each has a token and a membership).
        var stormUsers = 100
        var json = false
        var only: String?
        /// `nest`: load over the Nest protocol (acks), nest-server only.
        var proto = "yjs"
        var killRounds = 0
        /// Also measure the two relay floors (``RelayFloorCommand``, ``RelayFloors``).
        var floors = false
    }

    struct Outcome: Encodable {
        var server: String
        var rooms: Int
        var clients_per_room: Int
        var updates_sent: Int
        var deliveries: Int
        var expected_deliveries: Int
        var deliveries_per_second: Double
        var fanout_p50_ms: Double
        var fanout_p99_ms: Double
        var server_cpu_seconds: Double
        var cpu_microseconds_per_delivery: Double
        var bytes_sent: Int
        var bytes_received: Int
        var server_rss_mb: Double
        var idle_connections: Int
        var rss_kb_per_idle_connection: Double
        var join_clients: Int
        var join_seconds: Double
        /// The server's CPU time during the join: the joining clients decode
        /// 2 MB each on the same two cores, so the wall time is mostly theirs.
        var join_server_cpu_seconds: Double
        /// This process's CPU time during the join: with the server's, what the two cores spent.
        var join_generator_cpu_seconds: Double
        var reconnect_clients: Int
        var reconnect_seconds: Double
        var reconnect_server_cpu_seconds: Double
        var reconnect_generator_cpu_seconds: Double
        var failed_connections: Int
    }

    static func run(_ argv: [String]) async -> Int32 {
        var o = Options()
        var i = 0
        func value() -> String? { i += 1; return i < argv.count ? argv[i] : nil }
        while i < argv.count {
            switch argv[i] {
            case "--rooms": o.rooms = value().flatMap(Int.init) ?? o.rooms
            case "--per-room": o.perRoom = max(2, value().flatMap(Int.init) ?? o.perRoom)
            case "--clients": o.rooms = max(1, (value().flatMap(Int.init) ?? 200) / o.perRoom)
            case "--seconds": o.seconds = value().flatMap(Double.init) ?? o.seconds
            case "--rate": o.rate = value().flatMap(Double.init) ?? o.rate
            case "--idle": o.idle = value().flatMap(Int.init) ?? 0
            case "--join": o.join = value().flatMap(Int.init) ?? 0
            case "--join-kb": o.joinKB = value().flatMap(Int.init) ?? o.joinKB
            case "--reconnect": o.reconnect = value().flatMap(Int.init) ?? 0
            case "--storm-users": o.stormUsers = max(1, value().flatMap(Int.init) ?? 100)
            case "--server": o.only = value()
            case "--protocol": o.proto = value() ?? o.proto
            case "--kill": o.killRounds = value().flatMap(Int.init) ?? 0
            case "--floor": o.floors = true
            case "--json": o.json = true
            default:
                FileHandle.standardError.write(Data("""
                    usage: nest-bench server [--rooms R] [--per-room P | --clients K] [--rate UPDATES/S PER CLIENT] [--seconds S]
                                             [--idle N] [--join N] [--join-kb KB] [--reconnect N [--storm-users U]] [--server nest|yws|floor] [--floor] [--json]
                           nest-bench server --protocol nest [--rooms R] [--per-room P] [--rate R] [--seconds S] [--kill ROUNDS]
                    (NEST_BENCH_DATABASE_URL runs nest-server on PostgreSQL)

                    """.utf8))
                return 2
            }
            i += 1
        }
        if o.proto == "nest" { return await runNestProtocol(o) }
        var outcomes: [Outcome] = []
        do {
            if o.only == nil || o.only == "nest" {
                // A storm of thousands is many people reconnecting, not one: its clients spread over
                // `--storm-users` users (100), each with a token of their own and a membership to read.
                let s = try NestServerUnderTest.start(users: o.reconnect > 0 ? o.stormUsers : 1)
                defer { s.stop() }
                // Documents named for this run: on a PostgreSQL database kept between runs, the same writers'
                // updates would already be stored, acknowledged as known and never relayed.
                outcomes.append(try await measure("nest-server", pid: s.pid, o) { doc, client in
                    "ws://127.0.0.1:\(s.port)/v1/yjs/w1/draft/\(doc)-\(NestProtocolLoad.runTag)?token=\(s.tokens[client % s.tokens.count])"
                })
            }
            if o.only == nil || o.only == "yws" {
                let s = try YWebSocketServerUnderTest.start()
                defer { s.stop() }
                outcomes.append(try await measure("y-websocket-server", pid: s.pid, o) { doc, _ in "ws://127.0.0.1:\(s.port)/w1/draft/\(doc)" })
            }
            if o.floors || o.only == "floor" {
                let nio = try RelayFloors.nio()
                defer { nio.stop() }
                outcomes.append(try await measure("relay floor (NIO)", pid: nio.pid, o) { doc, _ in "ws://127.0.0.1:\(nio.port)/\(doc)" })
                let node = try RelayFloors.node()
                defer { node.stop() }
                outcomes.append(try await measure("relay floor (node ws)", pid: node.pid, o) { doc, _ in "ws://127.0.0.1:\(node.port)/\(doc)" })
            }
        } catch {
            FileHandle.standardError.write(Data("nest-bench server: \(error)\n".utf8))
            return 1
        }
        if o.json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            if let d = try? e.encode(outcomes) { print(String(decoding: d, as: UTF8.self)) }
            return 0
        }
        for r in outcomes {
            print(String(format: "%@: %d rooms × %d clients at %g/s each: %d updates, %d/%d deliveries (%.0f/s), fan-out p50 %.2f ms p99 %.2f ms, "
                         + "server CPU %.2f s (%.1f µs per delivery), RSS %.1f MB; clients sent %.0f KB, received %.0f KB",
                         r.server, r.rooms, r.clients_per_room, o.rate, r.updates_sent, r.deliveries, r.expected_deliveries, r.deliveries_per_second,
                         r.fanout_p50_ms, r.fanout_p99_ms, r.server_cpu_seconds, r.cpu_microseconds_per_delivery, r.server_rss_mb,
                         Double(r.bytes_sent) / 1_024, Double(r.bytes_received) / 1_024))
            if r.idle_connections > 0 { print(String(format: "    %d idle connections: %.1f KB RSS each", r.idle_connections, r.rss_kb_per_idle_connection)) }
            if r.reconnect_clients > 0 {
                print(String(format: "    %d clients reconnecting at once to %d rooms: all resynced in %.2f s (server CPU %.2f s, load generator CPU %.2f s)",
                             r.reconnect_clients, o.rooms, r.reconnect_seconds, r.reconnect_server_cpu_seconds, r.reconnect_generator_cpu_seconds))
            }
            if r.join_clients > 0 {
                print(String(format: "    %d clients joining a %d KB document at once: all synced in %.2f s (server CPU %.2f s, load generator CPU %.2f s)",
                             r.join_clients, o.joinKB, r.join_seconds, r.join_server_cpu_seconds, r.join_generator_cpu_seconds))
            }
            if r.failed_connections > 0 { print("    \(r.failed_connections) connections failed") }
        }
        func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2f", a / b) : "-" }
        let reference = outcomes.first { $0.server == "y-websocket-server" }
        let nest = outcomes.first { $0.server == "nest-server" }
        for f in outcomes where f.server.hasPrefix("relay floor") {
            print("\(f.server): CPU per delivery against y-websocket-server \(reference.map { ratio(f.cpu_microseconds_per_delivery, $0.cpu_microseconds_per_delivery) } ?? "-")"
                  + ", nest-server against it \(nest.map { ratio($0.cpu_microseconds_per_delivery, f.cpu_microseconds_per_delivery) } ?? "-")")
        }
        if let n = nest, let y = reference {
            print("ratios nest-server / y-websocket-server: fan-out p50 \(ratio(n.fanout_p50_ms, y.fanout_p50_ms)), p99 \(ratio(n.fanout_p99_ms, y.fanout_p99_ms)), "
                  + "CPU per delivery \(ratio(n.cpu_microseconds_per_delivery, y.cpu_microseconds_per_delivery)), RSS \(ratio(n.server_rss_mb, y.server_rss_mb))"
                  + (n.idle_connections > 0 ? ", RSS per idle connection \(ratio(n.rss_kb_per_idle_connection, y.rss_kb_per_idle_connection))" : "")
                  + (n.join_clients > 0 ? ", join time \(ratio(n.join_seconds, y.join_seconds)) (server CPU \(ratio(n.join_server_cpu_seconds, y.join_server_cpu_seconds)))" : "")
                  + (n.reconnect_clients > 0
                     ? ", reconnect storm \(ratio(n.reconnect_seconds, y.reconnect_seconds)) (server CPU \(ratio(n.reconnect_server_cpu_seconds, y.reconnect_server_cpu_seconds)))" : ""))
        }
        return 0
    }

    /// `--protocol nest`: acked load on nest-server, then optional kill -9 rounds.
    static func runNestProtocol(_ o: Options) async -> Int32 {
        do {
            let server = try NestServerUnderTest.start()
            defer { server.stop() }
            FileHandle.standardError.write(Data("nest-server /v1/sync: \(o.rooms) rooms × \(o.perRoom) clients at \(o.rate)/s each for \(Int(o.seconds)) s…\n".utf8))
            let r = await NestProtocolLoad.measure(server, rooms: o.rooms, perRoom: o.perRoom, rate: o.rate, seconds: o.seconds)
            var killed: (acked: Int, missing: Int)?
            if o.killRounds > 0 {
                killed = try await NestProtocolLoad.killRounds(server, rounds: o.killRounds, rooms: min(o.rooms, 50), perRoom: o.perRoom, rate: o.rate)
            }
            if o.json {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                print(String(decoding: try e.encode(r), as: UTF8.self))
            } else {
                print(String(format: "nest-server /v1/sync %d rooms × %d clients: %d updates acked (%.0f/s), ack p50 %.2f ms p99 %.2f ms, fan-out p50 %.2f ms p99 %.2f ms, server CPU %.2f s%@",
                             r.rooms, r.clients_per_room, r.updates_acked, r.acks_per_second, r.ack_p50_ms, r.ack_p99_ms, r.fanout_p50_ms, r.fanout_p99_ms,
                             r.server_cpu_seconds, r.failed_connections > 0 ? ", \(r.failed_connections) connections failed" : ""))
            }
            if let killed {
                print("kill -9 under load, \(o.killRounds) rounds: \(killed.acked) updates acked, \(killed.missing) missing after restart")
                if killed.missing > 0 { return 1 }
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench server: \(error)\n".utf8))
            return 1
        }
    }

    /// Send times by document, writer and sequence number, and what arrived.
    final class Ledger: Sendable {
        /// Send times of the load's updates; writer `c` writes as Yjs client `2_000_000 + c`.
        let sent: SentTimes
        let latencies = Mutex<[Double]>([])
        let failures = Atomic<Int>(0)
        let updates = Atomic<Int>(0)
        let idleReady = Atomic<Int>(0)
        /// WebSocket payload bytes the load's clients sent and received.
        let bytesSent = Atomic<Int>(0)
        let bytesReceived = Atomic<Int>(0)
        /// The server's CPU seconds when the steady load started.
        let cpuAtStart = Mutex<Double>(0)

        init(writers: Int) { sent = SentTimes(firstClientID: 2_000_000, writers: writers) }
    }


    /// `url(document, client)`: where client number `client` connects for `document`.
    static func measure(_ name: String, pid: Int32, _ o: Options, url: @escaping @Sendable (String, Int) -> String) async throws -> Outcome {
        FileHandle.standardError.write(Data("\(name): \(o.rooms) rooms × \(o.perRoom) clients for \(Int(o.seconds)) s…\n".utf8))
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let log = logger
        var out = Outcome(server: name, rooms: o.rooms, clients_per_room: o.perRoom, updates_sent: 0, deliveries: 0, expected_deliveries: 0,
                          deliveries_per_second: 0, fanout_p50_ms: 0, fanout_p99_ms: 0, server_cpu_seconds: 0, cpu_microseconds_per_delivery: 0, bytes_sent: 0, bytes_received: 0,
                          server_rss_mb: 0, idle_connections: 0, rss_kb_per_idle_connection: 0, join_clients: 0, join_seconds: 0, join_server_cpu_seconds: 0, join_generator_cpu_seconds: 0,
                          reconnect_clients: 0, reconnect_seconds: 0, reconnect_server_cpu_seconds: 0, reconnect_generator_cpu_seconds: 0, failed_connections: 0)
        let ledger = Ledger(writers: o.rooms * o.perRoom)
        // Idle connections, held open until the load is over.
        let (idleStream, idleRelease) = AsyncStream<Void>.makeStream()
        let rssBefore = ProcessStats.rssMB(pid)
        let idleTask = Task {
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<o.idle {
                    group.addTask {
                        do {
                            try await WebSocketClient.connect(url: url("idle\(c)", c), logger: log) { inbound, outbound, _ in
                                try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
                                var it = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                                _ = try await it.next()
                                ledger.idleReady.add(1, ordering: .relaxed)
                                for await _ in idleStream {}
                                try await outbound.close(.normalClosure, reason: nil)
                            }
                        } catch {
                            ledger.failures.add(1, ordering: .relaxed)
                            ledger.idleReady.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        if o.idle > 0 {
            let deadline = ContinuousClock.now + .seconds(120)
            while ledger.idleReady.load(ordering: .relaxed) < o.idle && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            try await Task.sleep(for: .seconds(1))
            out.idle_connections = o.idle
            out.rss_kb_per_idle_connection = (ProcessStats.rssMB(pid) - rssBefore) * 1024 / Double(o.idle)
        }

        let loadStart = LoadStart(expected: o.rooms * o.perRoom)
        ledger.cpuAtStart.withLock { $0 = ProcessStats.cpuSeconds(pid) }
        let period = Duration.milliseconds(Int(1000 / max(o.rate, 0.1)))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                guard (try? await loadStart.wait()) != nil else { return }
                ledger.cpuAtStart.withLock { $0 = ProcessStats.cpuSeconds(pid) }
            }
            for c in 0..<(o.rooms * o.perRoom) {
                group.addTask {
                    let doc = "room\(c / o.perRoom)"
                    // Counted once the room's state arrived; a client that never gets there still counts, so the load starts.
                    let seat = loadStart.seat()
                    defer { seat.joined() }
                    do {
                        try await WebSocketClient.connect(url: url(doc, c), logger: log) { inbound, outbound, _ in
                            // Latencies are collected here and handed over once, not under a shared lock per message.
                            var latencies: [Double] = []
                            defer { ledger.latencies.withLock { $0 += latencies } }
                            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
                            try await withThrowingTaskGroup(of: Void.self) { inner in
                                inner.addTask {
                                    let author = Doc(clientID: 2_000_000 + c)
                                    var pending: [UInt8] = []
                                    author.onUpdate { u, _ in pending = u }
                                    var seq = 0
                                    let end = try await loadStart.wait() + .seconds(o.seconds)
                                    try await Task.sleep(for: .milliseconds(Int.random(in: 0..<max(1, Int(1000 / max(o.rate, 0.1))))))
                                    var next = ContinuousClock.now
                                    while ContinuousClock.now < end {
                                        seq += 1
                                        try author.getMap("bench").set("w\(c)", .integer(Int64(seq)))
                                        ledger.sent.record(pending)
                                        ledger.updates.add(1, ordering: .relaxed)
                                        let message = YWebSocketMessage.update(pending).encoded()
                                        ledger.bytesSent.add(message.count, ordering: .relaxed)
                                        try await outbound.write(.binary(ByteBuffer(bytes: message)))
                                        next += period
                                        try await Task.sleep(until: next)
                                    }
                                    // Let the last updates arrive, then close, which ends the reader below.
                                    try await Task.sleep(until: end + .milliseconds(1500))
                                    try await outbound.close(.normalClosure, reason: nil)
                                }
                                for try await frame in inbound.messages(maxSize: 1 << 24) {
                                    guard case .binary(let b) = frame else { continue }
                                    ledger.bytesReceived.add(b.readableBytes, ordering: .relaxed)
                                    switch try YWebSocketMessage(decoding: Array(buffer: b)) {
                                    case .update(let u):
                                        if let (writer, at) = ledger.sent.sent(u), writer != c { latencies.append(Stats.ms(.now - at)) }
                                    case .syncStep2:
                                        seat.joined()
                                    case .syncStep1:
                                        // This client's own updates reach the room as it writes them: nothing to add.
                                        try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep2(update: [0, 0]).encoded())))
                                    default: break
                                    }
                                }
                                inner.cancelAll()
                            }
                        }
                    } catch {
                        ledger.failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        // From the start of the load to the last client's close.
        let elapsed = Stats.ms(ContinuousClock.now - ((try? await loadStart.wait()) ?? .now)) / 1000
        out.server_cpu_seconds = ProcessStats.cpuSeconds(pid) - ledger.cpuAtStart.withLock { $0 }
        out.server_rss_mb = ProcessStats.rssMB(pid)
        let lat = ledger.latencies.withLock { $0 }
        out.updates_sent = ledger.updates.load(ordering: .relaxed)
        out.deliveries = lat.count
        out.expected_deliveries = out.updates_sent * (o.perRoom - 1)
        out.deliveries_per_second = Double(lat.count) / max(elapsed, 0.001)
        out.fanout_p50_ms = Stats.percentile(lat, 0.5)
        out.fanout_p99_ms = Stats.percentile(lat, 0.99)
        out.cpu_microseconds_per_delivery = lat.isEmpty ? 0 : out.server_cpu_seconds * 1e6 / Double(lat.count)
        out.bytes_sent = ledger.bytesSent.load(ordering: .relaxed)
        out.bytes_received = ledger.bytesReceived.load(ordering: .relaxed)
        idleRelease.finish()
        await idleTask.value

        if o.join > 0 {
            out.join_clients = o.join
            let (cpu, own) = (ProcessStats.cpuSeconds(pid), ProcessStats.cpuSeconds(getpid()))
            out.join_seconds = try await joinStorm(url: url, clients: o.join, kilobytes: o.joinKB, log: log, ledger: ledger)
            out.join_server_cpu_seconds = ProcessStats.cpuSeconds(pid) - cpu
            out.join_generator_cpu_seconds = ProcessStats.cpuSeconds(getpid()) - own
        }
        if o.reconnect > 0 {
            out.reconnect_clients = o.reconnect
            let (cpu, own) = (ProcessStats.cpuSeconds(pid), ProcessStats.cpuSeconds(getpid()))
            out.reconnect_seconds = try await reconnectStorm(url: url, clients: o.reconnect, rooms: o.rooms, ledger: ledger)
            out.reconnect_server_cpu_seconds = ProcessStats.cpuSeconds(pid) - cpu
            out.reconnect_generator_cpu_seconds = ProcessStats.cpuSeconds(getpid()) - own
        }
        out.failed_connections = ledger.failures.load(ordering: .relaxed)
        return out
    }

    /// `clients` clients of the rooms of the load (which now hold its
    /// content) connecting at the same moment, as after a server restart or a
    /// network blip; returns the seconds until every one has its room's state
    /// and has closed. The clients are ``StormClient``s: lean enough that the
    /// storm measures the server more than the generator.
    static func reconnectStorm(url: @escaping @Sendable (String, Int) -> String, clients: Int, rooms: Int, ledger: Ledger) async throws -> Double {
        // Per client: seconds until its upgrade completed and until it had the room's state.
        // Each client's port and request target, parsed before the storm. Client c joins room c % rooms
        // as client number c / rooms of that room, so that each room's clients are different users.
        let rooms = max(rooms, 1)
        let targets = (0..<clients).map { c -> (port: Int, path: String)? in
            guard let target = URLComponents(string: url("room\(c % rooms)", c / rooms)), let port = target.port else { return nil }
            return (port, target.percentEncodedPath + (target.percentEncodedQuery.map { "?\($0)" } ?? ""))
        }
        let start = ContinuousClock.now
        let futures = (0..<clients).map { c -> EventLoopFuture<StormClient.Times>? in
            guard let target = targets[c] else { return nil }
            return StormClient.resync(group: MultiThreadedEventLoopGroup.singleton, port: target.port, path: target.path, start: start)
        }
        var times: [StormClient.Times] = []
        for f in futures {
            if let t = try? await f?.get() { times.append(t) } else { ledger.failures.add(1, ordering: .relaxed) }
        }
        let total = Stats.ms(ContinuousClock.now - start) / 1000
        let upgraded = times.map(\.upgraded).sorted(), synced = times.map(\.synced).sorted()
        func at(_ xs: [Double], _ q: Double) -> Double { xs.isEmpty ? 0 : xs[min(xs.count - 1, Int(Double(xs.count) * q))] }
        FileHandle.standardError.write(Data(String(
            format: "    reconnect storm: upgraded p50 %.2f s, p90 %.2f s, last %.2f s; resynced p50 %.2f s, p90 %.2f s, last %.2f s\n",
            at(upgraded, 0.5), at(upgraded, 0.9), upgraded.last ?? 0, at(synced, 0.5), at(synced, 0.9), synced.last ?? 0).utf8))
        return total
    }

    /// Fills one document with about `kilobytes` of text, then connects
    /// `clients` at once; returns the seconds until every one has the whole document.
    static func joinStorm(url: @escaping @Sendable (String, Int) -> String, clients: Int, kilobytes: Int, log: Logger, ledger: Ledger) async throws -> Double {
        let author = Doc(clientID: 3_000_000)
        var updates: [[UInt8]] = []
        author.onUpdate { u, _ in updates.append(u) }
        let chunk = String(repeating: "Spring colours for everyone. ", count: 35)
        while author.getText("body").length < kilobytes * 1024 { try author.getText("body").insert(author.getText("body").length, chunk) }
        let full = try Updates.merge(updates)
        let expected = author.getText("body").length
        // The author writes the document, then leaves; a closing race after the write is harmless.
        _ = try? await WebSocketClient.connect(url: url("big", 0), configuration: .init(maxFrameSize: 1 << 26), logger: log) { _, outbound, _ in
            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.update(full).encoded())))
            try await Task.sleep(for: .seconds(2))
            try await outbound.close(.normalClosure, reason: nil)
        }
        let start = ContinuousClock.now
        let receivedBefore = ledger.bytesReceived.load(ordering: .relaxed)
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<clients {
                group.addTask {
                    do {
                        try await WebSocketClient.connect(url: url("big", c), configuration: .init(maxFrameSize: 1 << 26), logger: log) { inbound, outbound, _ in
                            let local = Doc(clientID: 4_000_000 + c)
                            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
                            for try await frame in inbound.messages(maxSize: 1 << 26) {
                                guard case .binary(let b) = frame else { continue }
                                ledger.bytesReceived.add(b.readableBytes, ordering: .relaxed)
                                if case .syncStep2(let u) = try YWebSocketMessage(decoding: Array(buffer: b)) { try local.applyUpdate(u) }
                                if local.getText("body").length >= expected { break }
                            }
                            if local.getText("body").length < expected { ledger.failures.add(1, ordering: .relaxed) }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                    } catch {
                        ledger.failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        let seconds = Stats.ms(ContinuousClock.now - start) / 1000
        // What each joiner decodes: the servers encode the same document differently.
        FileHandle.standardError.write(Data(String(format: "    join storm: %.0f KB received per joiner\n", Double(ledger.bytesReceived.load(ordering: .relaxed) - receivedBefore) / 1024 / Double(max(clients, 1))).utf8))
        return seconds
    }
}

/// Resource use of another process, from /proc.
enum ProcessStats {
    static func rssMB(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = line.split(separator: " ").compactMap({ Double($0) }).first else { return 0 }
        return kb / 1024
    }

    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return 0 }
        let fields = s[s.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let u = Double(fields[11]), let k = Double(fields[12]) else { return 0 }
        return (u + k) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A `nest-server` release binary on a free port with a fresh SQLite file
/// (or the PostgreSQL database in `NEST_BENCH_DATABASE_URL`).
final class NestServerUnderTest: @unchecked Sendable {
    let bin: String
    let dir: String
    let env: [String: String]
    /// Tokens of the load's users (each a member of w1); the first is the one most loads use.
    let tokens: [String]
    var token: String { tokens[0] }
    private(set) var process: Process?
    private(set) var port = 0
    var pid: Int32 { process?.processIdentifier ?? 0 }

    private init(bin: String, dir: String, env: [String: String], tokens: [String]) {
        self.bin = bin
        self.dir = dir
        self.env = env
        self.tokens = tokens
    }

    /// Prepares a data directory and tokens for `users` users (editors of
    /// w1; one process each, as `nest-server token issue` grants the
    /// membership), and starts the server.
    static func start(users: Int = 1) throws -> NestServerUnderTest {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nest-server").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            throw BenchError("no nest-server beside nest-bench: swift build -c release --product nest-server")
        }
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("nest-bench-server-\(UUID().uuidString)")
        var env = ProcessInfo.processInfo.environment
        env["NEST_DATA_DIR"] = dir
        env["NEST_JWT_SECRET"] = "bench-secret-0123456789abcdef0123456789"
        env["NEST_UPDATES_PER_SECOND"] = "100000"
        env["NEST_LOG_LEVEL"] = ProcessInfo.processInfo.environment["NEST_BENCH_SERVER_LOG_LEVEL"] ?? "error"
        env["DATABASE_URL"] = env["NEST_BENCH_DATABASE_URL"]
        var tokens: [String] = []
        for u in 0..<max(users, 1) {
            let issue = Process()
            issue.executableURL = URL(fileURLWithPath: bin)
            issue.arguments = ["token", "issue", "--user", users > 1 ? "bench-\(u)" : "bench", "--workspace", "w1", "--role", "editor", "--ttl", "2h"]
            issue.environment = env
            let tokenPipe = Pipe()
            issue.standardOutput = tokenPipe
            try issue.run()
            let token = String(decoding: tokenPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            issue.waitUntilExit()
            guard issue.terminationStatus == 0 else { throw BenchError("nest-server token issue failed") }
            tokens.append(token)
        }
        let server = NestServerUnderTest(bin: bin, dir: dir, env: env, tokens: tokens)
        try server.launch(port: 0)
        return server
    }

    /// Starts `serve` on `port` (0: a free one) over the same data.
    func launch(port requested: Int) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["serve", "--port", String(requested)]
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        process = p
        port = try waitForLine(out, pattern: #"listening on [0-9.]+:([0-9]+)"#)
        // Keep reading what the server prints: a full pipe would block its logging, and with it the server.
        let logPath = dir + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        Thread.detachNewThread {
            while true {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                log?.write(data)
            }
            try? log?.close()
        }
    }

    /// SIGKILL: nothing is flushed.
    func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    func stop() {
        process?.terminate()
        process?.waitUntilExit()
        process = nil
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A server the benchmark starts as a process of its own: its port is read
/// from what it prints once listening (or given), and it is stopped with SIGTERM.
struct ListeningProcess {
    let process: Process
    let port: Int
    /// Files that exist for this process only, removed when it stops.
    var leftovers: [String] = []
    var pid: Int32 { process.processIdentifier }

    /// Starts `executable` and waits until it prints a line matching `pattern`, whose first group is the port unless `port` is given.
    static func start(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, listening pattern: String, port: Int? = nil)
        throws -> ListeningProcess
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let printed = try waitForLine(out, pattern: pattern)
        return ListeningProcess(process: p, port: port ?? printed)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        for path in leftovers { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Debian's y-websocket reference server (node), in memory.
enum YWebSocketServerUnderTest {
    static func start() throws -> ListeningProcess {
        let script = "/usr/share/nodejs/y-websocket/bin/server.js"
        guard FileManager.default.fileExists(atPath: script) else { throw BenchError("node-y-websocket is not installed (apt-get install node-y-websocket)") }
        let port = 20_000 + Int(getpid() % 20_000)
        var env = ProcessInfo.processInfo.environment
        env["NODE_PATH"] = "/usr/share/nodejs"
        env["HOST"] = "127.0.0.1"
        env["PORT"] = String(port)
        return try ListeningProcess.start("/usr/bin/env", ["node", script], environment: env, listening: "running at", port: port)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Reads `pipe` until a line matches `pattern`; returns the number in its first group (0 without one).
func waitForLine(_ pipe: Pipe, pattern: String) throws -> Int {
    var buffer = ""
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        let data = pipe.fileHandleForReading.availableData
        if data.isEmpty { break }
        buffer += String(decoding: data, as: UTF8.self)
        if let r = buffer.range(of: pattern, options: .regularExpression) {
            return Int(buffer[r].split(separator: ":").last ?? "") ?? 0
        }
    }
    throw BenchError("server did not start: \(buffer)")
}
