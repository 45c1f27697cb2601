import CRDT
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import SyncProtocol
import Synchronization

/// `nest-bench server`: K WebSocket clients on loopback, in pairs on K/2
/// documents; one of each pair writes at a fixed rate, the other measures how
/// long each update takes to reach it. Run against `nest-server` (release
/// build beside this binary; every update committed to SQLite before it is
/// relayed) and, in the same run, against Debian's y-websocket reference
/// server (in memory, no persistence), both over the y-websocket protocol.
enum ServerBenchCommand {
    struct Outcome: Encodable {
        var server: String
        var clients: Int
        var sent: Int
        var delivered: Int
        var updates_per_second: Double
        var latency_p50_ms: Double
        var latency_p99_ms: Double
        var server_rss_mb: Double
        var server_cpu_seconds: Double
        var failed_connections: Int
    }

    static func run(_ argv: [String]) async -> Int32 {
        var clients = 200, seconds = 10.0, rate = 5.0, json = false, only: String?
        var i = 0
        func value() -> String? { i += 1; return i < argv.count ? argv[i] : nil }
        while i < argv.count {
            switch argv[i] {
            case "--clients": clients = value().flatMap(Int.init) ?? clients
            case "--seconds": seconds = value().flatMap(Double.init) ?? seconds
            case "--rate": rate = value().flatMap(Double.init) ?? rate
            case "--server": only = value()
            case "--json": json = true
            default:
                FileHandle.standardError.write(Data("usage: nest-bench server [--clients K] [--seconds S] [--rate R per writer] [--server nest|yws] [--json]\n".utf8))
                return 2
            }
            i += 1
        }
        clients = max(2, clients - clients % 2)
        var outcomes: [Outcome] = []
        do {
            if only != "yws" {
                let s = try NestServerUnderTest.start()
                defer { s.stop() }
                FileHandle.standardError.write(Data("nest-server: \(clients) clients for \(Int(seconds)) s…\n".utf8))
                outcomes.append(try await drive(name: "nest-server", pid: s.pid, clients: clients, seconds: seconds, rate: rate) { doc in
                    "ws://127.0.0.1:\(s.port)/v1/yjs/w1/draft/\(doc)?token=\(s.token)"
                })
            }
            if only != "nest" {
                let s = try YWebSocketServerUnderTest.start()
                defer { s.stop() }
                FileHandle.standardError.write(Data("y-websocket server: \(clients) clients for \(Int(seconds)) s…\n".utf8))
                outcomes.append(try await drive(name: "y-websocket-server", pid: s.pid, clients: clients, seconds: seconds, rate: rate) { doc in
                    "ws://127.0.0.1:\(s.port)/w1/draft/\(doc)"
                })
            }
        } catch {
            FileHandle.standardError.write(Data("nest-bench server: \(error)\n".utf8))
            return 1
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            if let d = try? e.encode(outcomes) { print(String(decoding: d, as: UTF8.self)) }
        } else {
            for o in outcomes {
                print(String(format: "%-19@ %d clients: %d/%d updates delivered, %.0f updates/s, latency p50 %.2f ms p99 %.2f ms, server RSS %.1f MB, CPU %.2f s%@",
                             o.server, o.clients, o.delivered, o.sent, o.updates_per_second, o.latency_p50_ms, o.latency_p99_ms, o.server_rss_mb,
                             o.server_cpu_seconds, o.failed_connections > 0 ? ", \(o.failed_connections) connections failed" : ""))
            }
            if outcomes.count == 2 {
                let (n, y) = (outcomes[0], outcomes[1])
                print(String(format: "ratios nest/y-websocket: throughput %.2f, p50 %.2f, p99 %.2f, RSS %.2f, CPU %.2f",
                             n.updates_per_second / max(y.updates_per_second, 0.001), n.latency_p50_ms / max(y.latency_p50_ms, 0.001),
                             n.latency_p99_ms / max(y.latency_p99_ms, 0.001), n.server_rss_mb / max(y.server_rss_mb, 0.001),
                             n.server_cpu_seconds / max(y.server_cpu_seconds, 0.001)))
            }
        }
        return 0
    }

    /// Send times of every update, keyed by document and sequence number.
    final class Ledger: Sendable {
        let sent = Mutex<[String: ContinuousClock.Instant]>([:])
        let latencies = Mutex<[Double]>([])
        let failures = Atomic<Int>(0)
    }

    static func drive(name: String, pid: Int32, clients: Int, seconds: Double, rate: Double, url: @escaping @Sendable (String) -> String) async throws -> Outcome {
        let ledger = Ledger()
        let cpuBefore = ProcessStats.cpuSeconds(pid)
        let start = ContinuousClock.now
        let end = start + .seconds(seconds)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let log = logger
        await withTaskGroup(of: Void.self) { group in
            for c in 0..<clients {
                group.addTask {
                    let doc = "b\(c / 2)"
                    let writer = c % 2 == 0
                    do {
                        try await WebSocketClient.connect(url: url(doc), logger: log) { inbound, outbound, _ in
                            let local = Doc(clientID: 1_000 + c)
                            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
                            try await withThrowingTaskGroup(of: Void.self) { inner in
                                inner.addTask {
                                    if writer {
                                        let author = Doc(clientID: 5_000 + c)
                                        var pending: [UInt8] = []
                                        author.onUpdate { u, _ in pending = u }
                                        var seq = 0
                                        try await Task.sleep(for: .milliseconds(Int.random(in: 0..<max(1, Int(1000 / rate)))))
                                        while ContinuousClock.now < end {
                                            seq += 1
                                            try author.getMap("bench").set("seq", .integer(Int64(seq)))
                                            ledger.sent.withLock { $0["\(doc)#\(seq)"] = ContinuousClock.now }
                                            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.update(pending).encoded())))
                                            try await Task.sleep(for: .milliseconds(Int(1000 / rate)))
                                        }
                                    }
                                    // Let the last updates arrive, then close, which ends the reader below.
                                    try await Task.sleep(until: end + .milliseconds(1500))
                                    try await outbound.close(.normalClosure, reason: nil)
                                }
                                for try await frame in inbound.messages(maxSize: 1 << 24) {
                                    guard case .binary(let b) = frame else { continue }
                                    let m = try YWebSocketMessage(decoding: Array(buffer: b))
                                    switch m {
                                    case .update(let u), .syncStep2(let u):
                                        guard !writer else { continue }
                                        try local.applyUpdate(u)
                                        if case .integer(let s)? = local.getMap("bench").get("seq") as YAny?,
                                           let t = ledger.sent.withLock({ $0.removeValue(forKey: "\(doc)#\(s)") }) {
                                            let d = ContinuousClock.now - t
                                            ledger.latencies.withLock { $0.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
                                        }
                                    case .syncStep1:
                                        try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep2(update: local.encodeStateAsUpdate(since: [:])).encoded())))
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
        let elapsed = ContinuousClock.now - start
        let lat = ledger.latencies.withLock { $0 }.sorted()
        let undelivered = ledger.sent.withLock { $0.count }
        func pct(_ p: Double) -> Double { lat.isEmpty ? 0 : lat[min(lat.count - 1, Int(Double(lat.count) * p))] }
        return Outcome(
            server: name, clients: clients, sent: lat.count + undelivered, delivered: lat.count,
            updates_per_second: Double(lat.count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18),
            latency_p50_ms: pct(0.5), latency_p99_ms: pct(0.99), server_rss_mb: ProcessStats.rssMB(pid),
            server_cpu_seconds: ProcessStats.cpuSeconds(pid) - cpuBefore, failed_connections: ledger.failures.load(ordering: .relaxed)
        )
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

/// A `nest-server` release binary on a free port with a fresh SQLite file.
struct NestServerUnderTest {
    let process: Process
    let port: Int
    let token: String
    let dir: String
    var pid: Int32 { process.processIdentifier }

    static func start() throws -> NestServerUnderTest {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nest-server").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            throw BenchError("no nest-server beside nest-bench: swift build -c release --product nest-server")
        }
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("nest-bench-server-\(UUID().uuidString)")
        var env = ProcessInfo.processInfo.environment
        env["NEST_DATA_DIR"] = dir
        env["NEST_JWT_SECRET"] = "bench-secret-0123456789abcdef0123456789"
        env["NEST_UPDATES_PER_SECOND"] = "100000"
        env["NEST_LOG_LEVEL"] = "error"
        let issue = Process()
        issue.executableURL = URL(fileURLWithPath: bin)
        issue.arguments = ["token", "issue", "--user", "bench", "--workspace", "w1", "--role", "editor", "--ttl", "1h"]
        issue.environment = env
        let tokenPipe = Pipe()
        issue.standardOutput = tokenPipe
        try issue.run()
        let token = String(decoding: tokenPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        issue.waitUntilExit()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["serve", "--port", "0"]
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let port = try waitForLine(out, pattern: #"listening on [0-9.]+:([0-9]+)"#)
        return NestServerUnderTest(process: p, port: port, token: token, dir: dir)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Debian's y-websocket reference server (node), in memory.
struct YWebSocketServerUnderTest {
    let process: Process
    let port: Int
    var pid: Int32 { process.processIdentifier }

    static func start() throws -> YWebSocketServerUnderTest {
        let script = "/usr/share/nodejs/y-websocket/bin/server.js"
        guard FileManager.default.fileExists(atPath: script) else { throw BenchError("node-y-websocket is not installed (apt-get install node-y-websocket)") }
        let port = 20_000 + Int(getpid() % 20_000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["node", script]
        var env = ProcessInfo.processInfo.environment
        env["NODE_PATH"] = "/usr/share/nodejs"
        env["HOST"] = "127.0.0.1"
        env["PORT"] = String(port)
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        _ = try waitForLine(out, pattern: "running at")
        return YWebSocketServerUnderTest(process: p, port: port)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
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
