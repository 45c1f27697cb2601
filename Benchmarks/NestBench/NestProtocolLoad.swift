import CRDT
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import SyncProtocol
import Synchronization

/// Load on `nest-server` over its own protocol (`/v1/sync`), where every
/// update is acknowledged after its commit: ack latency, fan-out latency, and
/// kill -9 rounds that count acknowledged updates missing after a restart.
enum NestProtocolLoad {
    struct Outcome: Encodable {
        var rooms: Int
        var clients_per_room: Int
        var updates_acked: Int
        var acks_per_second: Double
        var ack_p50_ms: Double
        var ack_p99_ms: Double
        var fanout_p50_ms: Double
        var fanout_p99_ms: Double
        var server_cpu_seconds: Double
        var failed_connections: Int
    }

    /// Names this process's documents: a PostgreSQL database kept between runs
    /// would otherwise hand the next run documents that already hold the same
    /// writers' clocks, and their updates would be acknowledged as known
    /// without a commit or a broadcast.
    static let runTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    /// What every client of a run shares.
    final class Ledger: Sendable {
        /// Send times of the round's updates; writer `c` writes as Yjs client `authorID(round, c)`.
        let sent: SentTimes
        let ackLatencies = Mutex<[Double]>([])
        let fanout = Mutex<[Double]>([])
        /// Acknowledged (document, writer key, value) triples, for the kill -9 check.
        let acked = Mutex<[(String, String, Int)]>([])
        let failures = Atomic<Int>(0)

        /// Every client subscribed: the load starts.
        let loadStart: LoadStart

        init(round: Int, writers: Int) {
            sent = SentTimes(firstClientID: UInt64(NestProtocolLoad.authorID(round: round, writer: 0)), writers: writers)
            loadStart = LoadStart(expected: writers)
        }
    }

    /// The Yjs client id of a writer's edits in a round.
    static func authorID(round: Int, writer c: Int) -> Int { 20_000_000 + round * 100_000 + c }

    /// When a client sent each of its updates, by client sequence number (for its acks).
    final class ClientSeqTimes: Sendable {
        let bySeq = Mutex<[Int: ContinuousClock.Instant]>([:])
    }

    /// Runs `clients` writers in rooms of `perRoom`, each appending its
    /// sequence numbers to its own array at `rate` per second for `seconds`
    /// once every client is subscribed, or until the connection breaks.
    static func drive(
        port: Int, token: String, rooms: Int, perRoom: Int, rate: Double, seconds: Double, round: Int, ledger: Ledger
    ) async {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let log = logger
        var config = WebSocketClientConfiguration(maxFrameSize: 1 << 24)
        config.additionalHeaders[.authorization] = "Bearer \(token)"
        let wsConfig = config
        let period = Duration.milliseconds(Int(1000 / max(rate, 0.1)))
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<(rooms * perRoom) {
                group.addTask {
                    let doc = "w1/draft/nroom-\(runTag)-\(c / perRoom)"
                    let key = "r\(round)w\(c)"
                    // Counted once subscribed; a client that never subscribes still counts, so that the load starts.
                    let seat = ledger.loadStart.seat()
                    defer { seat.joined() }
                    do {
                        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/v1/sync", configuration: wsConfig, logger: log) { inbound, outbound, _ in
                            func send(_ m: NestMessage) async throws { try await outbound.write(.binary(ByteBuffer(bytes: m.encoded()))) }
                            // Latencies are collected here and handed over once, not under a shared lock per message.
                            var acks: [Double] = [], fanout: [Double] = []
                            defer {
                                ledger.ackLatencies.withLock { $0 += acks }
                                ledger.fanout.withLock { $0 += fanout }
                            }
                            let mine = ClientSeqTimes()
                            try await send(.hello(minVersion: 1, maxVersion: 1, client: "nest-bench", token: ""))
                            try await send(.subscribe([DocumentState(documentID: doc, stateVector: [0])]))
                            // Steady-state latency: clients write once every subscription is answered,
                            // not while the server is still setting 500 sessions up.
                            try await withThrowingTaskGroup(of: Void.self) { inner in
                                inner.addTask {
                                    let end = try await ledger.loadStart.wait() + .seconds(seconds)
                                    let author = Doc(clientID: authorID(round: round, writer: c))
                                    var pending: [UInt8] = []
                                    author.onUpdate { u, _ in pending = u }
                                    var seq = 0
                                    try await Task.sleep(for: .milliseconds(Int.random(in: 0..<max(1, Int(1000 / max(rate, 0.1))))))
                                    var next = ContinuousClock.now
                                    while ContinuousClock.now < end {
                                        seq += 1
                                        author.transact { _ in
                                            try? author.getArray(key).push([.value(.integer(Int64(seq)))])
                                            try? author.getMap("latest").set(key, .integer(Int64(seq)))
                                        }
                                        let now = ContinuousClock.now
                                        ledger.sent.record(pending, at: now)
                                        mine.bySeq.withLock { $0[seq] = now }
                                        try await send(.update(documentID: doc, clientSeq: seq, update: pending))
                                        next += period
                                        try await Task.sleep(until: next)
                                    }
                                    try await Task.sleep(until: end + .milliseconds(1500))
                                    try await outbound.close(.normalClosure, reason: nil)
                                }
                                for try await frame in inbound.messages(maxSize: 1 << 24) {
                                    guard case .binary(let b) = frame else { continue }
                                    switch try NestMessage(decoding: Array(buffer: b)) {
                                    case .ack(_, let seq, _):
                                        if let t = mine.bySeq.withLock({ $0.removeValue(forKey: seq) }) { acks.append(Stats.ms(.now - t)) }
                                        ledger.acked.withLock { $0.append((doc, key, seq)) }
                                    case .syncStep2:
                                        seat.joined()
                                    case .broadcast(_, _, let u):
                                        if let (writer, at) = ledger.sent.sent(u), writer != c { fanout.append(Stats.ms(.now - at)) }
                                    case .refused(_, _, let code, let text):
                                        FileHandle.standardError.write(Data("refused: \(code.name) \(text)\n".utf8))
                                    default:
                                        break
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
    }

    /// Steady load; ack and fan-out latency.
    static func measure(_ server: NestServerUnderTest, rooms: Int, perRoom: Int, rate: Double, seconds: Double) async -> Outcome {
        let ledger = Ledger(round: 0, writers: rooms * perRoom)
        // The server's CPU from the start of the steady load, not from the clients' connecting.
        let cpuAtStart = Task { [pid = server.pid] in
            _ = try? await ledger.loadStart.wait()
            return ProcessStats.cpuSeconds(pid)
        }
        await drive(port: server.port, token: server.token, rooms: rooms, perRoom: perRoom, rate: rate, seconds: seconds, round: 0, ledger: ledger)
        let cpu = await cpuAtStart.value
        let acks = ledger.ackLatencies.withLock { $0 }, fan = ledger.fanout.withLock { $0 }
        return Outcome(
            rooms: rooms, clients_per_room: perRoom, updates_acked: acks.count, acks_per_second: Double(acks.count) / seconds,
            ack_p50_ms: Stats.percentile(acks, 0.5), ack_p99_ms: Stats.percentile(acks, 0.99), fanout_p50_ms: Stats.percentile(fan, 0.5),
            fanout_p99_ms: Stats.percentile(fan, 0.99), server_cpu_seconds: ProcessStats.cpuSeconds(server.pid) - cpu,
            failed_connections: ledger.failures.load(ordering: .relaxed)
        )
    }

    /// `rounds` times: load, kill -9 at a random moment, restart on the same
    /// port and data, then read every room back and count acknowledged
    /// updates that are missing. Returns (acknowledged, missing).
    static func killRounds(_ server: NestServerUnderTest, rounds: Int, rooms: Int, perRoom: Int, rate: Double) async throws -> (Int, Int) {
        var totalAcked = 0, missing = 0
        for round in 1...rounds {
            let ledger = Ledger(round: round, writers: rooms * perRoom)
            let port = server.port
            let killAt = Duration.milliseconds(Int.random(in: 800...2_500))
            let load = Task { await drive(port: port, token: server.token, rooms: rooms, perRoom: perRoom, rate: rate, seconds: 30, round: round, ledger: ledger) }
            _ = try await ledger.loadStart.wait()
            try await Task.sleep(for: killAt)
            server.kill9()
            await load.value
            try server.launch(port: port)
            let acked = ledger.acked.withLock { $0 }
            totalAcked += acked.count
            let lost = try await countMissing(port: port, token: server.token, acked: acked)
            missing += lost
            FileHandle.standardError.write(Data("kill -9 round \(round): \(acked.count) acked, \(lost) missing after restart\n".utf8))
        }
        return (totalAcked, missing)
    }

    /// Reads every document named in `acked` and counts the acknowledged values not in it.
    static func countMissing(port: Int, token: String, acked: [(String, String, Int)]) async throws -> Int {
        var byDoc: [String: [(String, Int)]] = [:]
        for (d, k, v) in acked { byDoc[d, default: []].append((k, v)) }
        var config = WebSocketClientConfiguration(maxFrameSize: 1 << 26)
        config.additionalHeaders[.authorization] = "Bearer \(token)"
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let docs = byDoc
        let result = Mutex<Int>(0)
        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/v1/sync", configuration: config, logger: logger) { inbound, outbound, _ in
            func send(_ m: NestMessage) async throws { try await outbound.write(.binary(ByteBuffer(bytes: m.encoded()))) }
            try await send(.hello(minVersion: 1, maxVersion: 1, client: "nest-bench-verify", token: ""))
            try await send(.subscribe(docs.keys.map { DocumentState(documentID: $0, stateVector: [0]) }))
            var remaining = Set(docs.keys)
            var lost = 0
            for try await frame in inbound.messages(maxSize: 1 << 26) {
                guard case .binary(let b) = frame, case .syncStep2(let d, let u) = try NestMessage(decoding: Array(buffer: b)),
                      remaining.remove(d) != nil else { continue }
                let doc = Doc(clientID: 1)
                try doc.applyUpdate(u)
                for (k, v) in docs[d] ?? [] {
                    guard case .array(let values) = doc.getArray(k).toJSON(), values.contains(where: { $0 == .integer(Int64(v)) }) else {
                        lost += 1
                        continue
                    }
                }
                if remaining.isEmpty { break }
            }
            result.withLock { $0 = lost + remaining.reduce(0) { $0 + (docs[$1]?.count ?? 0) } }
            try await outbound.close(.normalClosure, reason: nil)
        }
        return result.withLock { $0 }
    }
}
