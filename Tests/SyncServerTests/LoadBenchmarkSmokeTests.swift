import Foundation
import TestHarness
import TestBasics
import Testing

/// The load benchmark (`nest-bench server`) runs end to end on a fresh
/// machine: small loads with the debug build, against `nest-server` and
/// Debian's y-websocket server in one run, and its kill -9 rounds on SQLite
/// and PostgreSQL. These check what the benchmark reports, never its speed
/// (speed is for the release build, see the README).
@Suite("load benchmark (nest-bench server, small loads)", .serialized)
struct LoadBenchmarkSmokeTests {
    static let bench = ServerProcess.root.appendingPathComponent(".build/debug/nest-bench").path

    /// The benchmark's environment, without a database unless one is given.
    static func environment(databaseURL: String? = nil) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NEST_BENCH_DATABASE_URL")
        if let databaseURL { env["NEST_BENCH_DATABASE_URL"] = databaseURL }
        return env
    }

    @Test("the y-websocket load, idle connections and the join and reconnect storms run against both servers in one run")
    func bothServers() async throws {
        let run = try await ProcessRunner.run(Self.bench, [
            "server", "--rooms", "4", "--per-room", "3", "--rate", "5", "--seconds", "2",
            "--idle", "50", "--join", "5", "--join-kb", "64", "--reconnect", "50", "--storm-users", "3", "--json",
        ], environment: Self.environment())
        #expect(run.status == 0, "\(run.err)")
        let outcomes = (try? JSONSerialization.jsonObject(with: Data(run.out.utf8))) as? [[String: Any]] ?? []
        #expect(outcomes.map { $0["server"] as? String } == ["nest-server", "y-websocket-server"], "\(run.out)\n\(run.err)")
        for o in outcomes {
            let name = o["server"] as? String ?? "?"
            let expected = o["expected_deliveries"] as? Int ?? 0, delivered = o["deliveries"] as? Int ?? 0
            #expect(expected >= 100 && expected == (o["updates_sent"] as? Int ?? 0) * 2, "\(name): \(o)")
            #expect(o["failed_connections"] as? Int == 0, "\(name): \(o)")
            #expect(o["idle_connections"] as? Int == 50, "\(name): \(o)")
            #expect(o["join_clients"] as? Int == 5 && (o["join_seconds"] as? Double ?? 0) > 0, "\(name): \(o)")
            #expect(o["reconnect_clients"] as? Int == 50 && (o["reconnect_seconds"] as? Double ?? 0) > 0, "\(name): \(o)")
            #expect((o["fanout_p99_ms"] as? Double ?? 0) > 0 && (o["server_cpu_seconds"] as? Double ?? 0) > 0, "\(name): \(o)")
            if name == "nest-server" {
                #expect((o["rss_kb_per_idle_connection"] as? Double ?? 0) > 0, "\(o)")
                // Updates still in flight when the clients close are lost to the count, not to the server:
                // on a loaded test machine, allow a few.
                #expect(delivered <= expected && delivered * 100 >= expected * 95, "\(name): \(delivered) of \(expected) delivered")
            }
        }
        #expect(run.err.contains("join storm: 64 KB received per joiner") || run.err.contains("join storm: 65 KB received per joiner"), "\(run.err)")
    }

    @Test("the bare relays of --floor (NIO and node's ws) carry the same load and report their CPU")
    func floors() async throws {
        let run = try await ProcessRunner.run(Self.bench, [
            "server", "--server", "floor", "--rooms", "4", "--per-room", "3", "--rate", "5", "--seconds", "2", "--json",
        ], environment: Self.environment())
        #expect(run.status == 0, "\(run.err)")
        let outcomes = (try? JSONSerialization.jsonObject(with: Data(run.out.utf8))) as? [[String: Any]] ?? []
        #expect(outcomes.map { $0["server"] as? String } == ["relay floor (NIO)", "relay floor (node ws)"], "\(run.out)\n\(run.err)")
        for o in outcomes {
            let expected = o["expected_deliveries"] as? Int ?? 0, delivered = o["deliveries"] as? Int ?? 0
            #expect(expected >= 100 && o["failed_connections"] as? Int == 0, "\(o)")
            #expect(delivered <= expected && delivered * 100 >= expected * 95, "\(delivered) of \(expected) delivered: \(o)")
            #expect((o["server_cpu_seconds"] as? Double ?? 0) > 0, "\(o)")
        }
    }

    @Test("kill -9 rounds under load: updates are acknowledged and none is missing after the restart", arguments: ["sqlite", "postgresql"])
    func killRounds(store: String) async throws {
        var url: String?
        if store == "postgresql" {
            guard let (fresh, _) = try await TestDatabase.fresh() else {
                Issue.record("no PostgreSQL for the tests")
                return
            }
            url = fresh
        }
        let run = try await ProcessRunner.run(Self.bench, [
            "server", "--protocol", "nest", "--rooms", "4", "--per-room", "3", "--rate", "10", "--seconds", "2", "--kill", "2", "--json",
        ], environment: Self.environment(databaseURL: url))
        #expect(run.status == 0, "\(run.out)\n\(run.err)")
        let lines = run.out.split(separator: "\n").map(String.init)
        let load = lines.first.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] } ?? [:]
        #expect((load["updates_acked"] as? Int ?? 0) > 100 && load["failed_connections"] as? Int == 0, "\(run.out)")
        #expect((load["ack_p99_ms"] as? Double ?? 0) > 0, "\(load)")
        guard let summary = lines.first(where: { $0.hasPrefix("kill -9 under load, 2 rounds:") }),
              let match = summary.firstMatch(of: /(\d+) updates acked, (\d+) missing/) else {
            Issue.record("no kill -9 summary: \(run.out)\n\(run.err)")
            return
        }
        #expect((Int(match.1) ?? 0) > 0, "\(summary)")
        #expect(Int(match.2) == 0, "\(summary)")
    }
}
