import Testing
import Synchronization
import SyncServer
import TestHarness
import TestBasics

/// Admission control: bounded concurrent joins, arrival order, refusal when
/// the queue is full, cancellation while waiting.
/// Shared counters for tasks (atomics live in a class so closures can share them).
final class GateCounters: Sendable {
    let running = Atomic<Int>(0), peak = Atomic<Int>(0), served = Atomic<Int>(0), refused = Atomic<Int>(0)
    let order = Mutex<[Int]>([])
}

@Suite("join gate")
struct JoinGateTests {
    /// Waits until the gate shows `waiting` joins waiting (tasks reach it in their own time).
    static func waitForWaiting(_ gate: JoinGate, _ waiting: Int) async throws {
        for _ in 0..<2_000 where gate.load.waiting != waiting { try await Task.sleep(for: .milliseconds(1)) }
        #expect(gate.load.waiting == waiting)
    }

    @Test("joins beyond the limit wait and are let in in arrival order")
    func fifo() async throws {
        let gate = JoinGate(limit: 2, queueLimit: 10)
        try await gate.enter()
        try await gate.enter()
        #expect(gate.load == (2, 0))
        let counters = GateCounters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                group.addTask {
                    try await gate.enter()
                    counters.order.withLock { $0.append(i) }
                }
                // Each waiter queues before the next one starts, so arrival order is known.
                try await Self.waitForWaiting(gate, i + 1)
            }
            #expect(counters.order.withLock { $0 }.isEmpty, "nobody may pass while both slots are taken")
            for released in 1...5 {
                gate.leave()
                for _ in 0..<2_000 where counters.order.withLock({ $0.count }) < released { try await Task.sleep(for: .milliseconds(1)) }
                #expect(counters.order.withLock { $0 } == Array(0..<released))
            }
            try await group.waitForAll()
        }
        #expect(gate.load == (2, 0))
        gate.leave()
        gate.leave()
        #expect(gate.load == (0, 0))
    }

    @Test("a full queue turns newcomers away at once; a freed slot serves the queue first")
    func refusal() async throws {
        let gate = JoinGate(limit: 1, queueLimit: 1)
        try await gate.enter()
        let waiter = Task { try await gate.enter() }
        try await Self.waitForWaiting(gate, 1)
        await #expect(throws: JoinGate.Refusal.busy) { try await gate.enter() }
        gate.leave()
        try await waiter.value
        #expect(gate.load == (1, 0))
        gate.leave()
        try await gate.enter()
        #expect(gate.load == (1, 0))
        gate.leave()
    }

    @Test("a waiter whose task is cancelled leaves the queue and never takes a slot")
    func cancellation() async throws {
        let gate = JoinGate(limit: 1, queueLimit: 5)
        try await gate.enter()
        let cancelled = Task { try await gate.enter() }
        try await Self.waitForWaiting(gate, 1)
        let next = Task { try await gate.enter() }
        try await Self.waitForWaiting(gate, 2)
        cancelled.cancel()
        await #expect(throws: JoinGate.Refusal.cancelled) { try await cancelled.value }
        #expect(gate.load == (1, 1))
        gate.leave()
        try await next.value
        #expect(gate.load == (1, 0))
        gate.leave()
        #expect(gate.load == (0, 0))
    }

    @Test("a slot is given back once, however often it is released")
    func slotReleasesOnce() async throws {
        let gate = JoinGate(limit: 1, queueLimit: 0)
        let slot = try await gate.slot()
        slot.release()
        slot.release()
        #expect(gate.load == (0, 0))
        try await gate.enter()
        await #expect(throws: JoinGate.Refusal.busy) { try await gate.enter() }
        gate.leave()
    }

    @Test("random storms never run more than the limit at once and serve or refuse every join", arguments: [1, 2, 3, 4] as [UInt64])
    func storms(seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        let limit = Int.random(in: 1...6, using: &rng)
        let queue = Int.random(in: 0...40, using: &rng)
        let joins = Int.random(in: 20...120, using: &rng)
        let holds = (0..<joins).map { _ in Int.random(in: 0...3, using: &rng) }
        let gate = JoinGate(limit: limit, queueLimit: queue)
        let c = GateCounters()
        await withTaskGroup(of: Void.self) { group in
            for hold in holds {
                group.addTask {
                    do {
                        try await gate.enter()
                    } catch {
                        c.refused.add(1, ordering: .relaxed)
                        return
                    }
                    let now = c.running.add(1, ordering: .relaxed).newValue
                    c.peak.max(now, ordering: .relaxed)
                    try? await Task.sleep(for: .milliseconds(hold))
                    c.running.subtract(1, ordering: .relaxed)
                    c.served.add(1, ordering: .relaxed)
                    gate.leave()
                }
            }
        }
        let summary = "seed \(seed): limit \(limit), queue \(queue), joins \(joins)"
        #expect(c.peak.load(ordering: .relaxed) <= limit, "\(summary)")
        #expect(c.served.load(ordering: .relaxed) + c.refused.load(ordering: .relaxed) == joins, "\(summary)")
        #expect(c.served.load(ordering: .relaxed) >= min(joins, limit + queue), "\(summary)")
        #expect(gate.load == (0, 0), "\(summary)")
    }
}
