import Testing
import Foundation
import Logging
import PostgresNIO
import SyncServer
import TestHarness
import TestBasics

/// Real `nest-server` processes sharing one PostgreSQL: the queue's promises
/// hold across processes and survive a node's death.
@Suite("Jobs on two nest-server nodes", .serialized)
struct JobNodesTests {
    struct Row: Sendable {
        var id: Int64
        var state: String
        var attempt: Int
        var attemptedBy: String
        var errors: String
        var result: String
    }

    /// Two nodes on a fresh database; `body` gets them and a way to read the jobs table.
    static func withNodes(leaseSeconds: Int = 30, _ body: ([ServerProcess], @Sendable () async throws -> [Row]) async throws -> Void) async throws {
        guard let (url, config) = try await TestDatabase.fresh() else { return }
        var nodes: [ServerProcess] = []
        for _ in 0..<2 {
            let node = try ServerProcess()
            node.databaseURL = url
            node.serveEnvironment = ["NEST_JOB_LEASE_SECONDS": String(leaseSeconds), "NEST_LOG_LEVEL": "info"]
            nodes.append(node)
        }
        _ = try await nodes[0].admin(["migrate"])
        for node in nodes { try await node.start() }
        let client = PostgresClient(configuration: config)
        let running = Task { await client.run() }
        defer {
            running.cancel()
            for node in nodes { node.stop() }
        }
        let logger = Logger(label: "nodes-test")
        let read: @Sendable () async throws -> [Row] = {
            var out: [Row] = []
            for try await (id, state, attempt, by, errors, result) in try await client.query(
                "SELECT id, state, attempt, COALESCE(attempted_by, ''), errors, COALESCE(result, '') FROM jobs ORDER BY id", logger: logger)
                .decode((Int64, String, Int32, String, String, String).self) {
                out.append(Row(id: id, state: state, attempt: Int(attempt), attemptedBy: by, errors: errors, result: result))
            }
            return out
        }
        do {
            try await body(nodes, read)
        } catch {
            for (i, node) in nodes.enumerated() { print("node \(i) log:\n\(node.logTail())") }
            throw error
        }
    }

    static func pid(_ node: ServerProcess) -> String { String(node.process?.processIdentifier ?? -1) }

    @Test("1,000 jobs queued while two nodes run: each runs exactly once")
    func exactlyOnce() async throws {
        try await Self.withNodes { nodes, read in
            _ = try await nodes[0].admin(["jobs", "enqueue", "--count", "1000"])
            try await eventually("1,000 completed jobs", timeout: .seconds(120)) { try await read().filter { $0.state == "completed" }.count == 1_000 }
            let rows = try await read()
            #expect(rows.count == 1_000)
            #expect(rows.allSatisfy { $0.attempt == 1 && $0.errors == "[]" }, "a job was claimed more than once")
            let byNode = nodes.map { n in rows.filter { $0.attemptedBy.contains(":\(Self.pid(n)):") }.count }
            print("jobs run by each node: \(byNode)")
            #expect(byNode.reduce(0, +) == 1_000)
        }
    }

    @Test("a node killed with -9 mid-job: the job is rescued after its lease and completed once by the other node")
    func killedMidJob() async throws {
        try await Self.withNodes(leaseSeconds: 3) { nodes, read in
            _ = try await nodes[0].admin(["jobs", "enqueue", "--sleep-ms", "2500"])
            try await eventually("the job to run") { try await read().first?.state == "running" }
            let owner = try #require(try await read().first).attemptedBy
            let (victim, survivor) = owner.contains(":\(Self.pid(nodes[0])):") ? (nodes[0], nodes[1]) : (nodes[1], nodes[0])
            let survivorPID = Self.pid(survivor)
            victim.kill9()
            try await eventually("the rescued job to complete", timeout: .seconds(30)) { try await read().first?.state == "completed" }
            let job = try #require(try await read().first)
            #expect(job.attempt == 2 && job.attemptedBy.contains(":\(survivorPID):"))
            #expect(job.errors.contains("lease expired") && job.errors.contains(owner))
        }
    }

    @Test("a node frozen mid-job (SIGSTOP) past its lease: the other node completes the job, and the frozen node's late completion is refused")
    func lateCompletionRefused() async throws {
        try await Self.withNodes(leaseSeconds: 3) { nodes, read in
            // Long enough that a loaded machine still finds it running when the test freezes its node.
            _ = try await nodes[0].admin(["jobs", "enqueue", "--sleep-ms", "6000"])
            try await eventually("the job to run") { try await read().first?.state == "running" }
            let owner = try #require(try await read().first).attemptedBy
            let (frozen, other) = owner.contains(":\(Self.pid(nodes[0])):") ? (nodes[0], nodes[1]) : (nodes[1], nodes[0])
            guard let pid = frozen.process?.processIdentifier else { Issue.record("no process"); return }
            kill(pid, SIGSTOP)
            try await eventually("the other node to complete it", timeout: .seconds(30)) { try await read().first?.state == "completed" }
            let done = try #require(try await read().first)
            #expect(done.attempt == 2 && done.attemptedBy.contains(":\(Self.pid(other)):"))
            kill(pid, SIGCONT)
            // The frozen node wakes with its sleep over: it tries to complete attempt 1 and is refused.
            try await eventually("the frozen node to report the refusal", timeout: .seconds(20)) {
                frozen.logTail(20_000).contains("no longer this worker") || frozen.logTail(20_000).contains("cancelled or given to another worker")
            }
            let after = try #require(try await read().first)
            #expect(after.state == "completed" && after.attempt == 2 && after.attemptedBy == done.attemptedBy)
        }
    }
}
