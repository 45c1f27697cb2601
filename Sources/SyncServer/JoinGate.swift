import Prometheus
import Synchronization

/// Admission control for connection set-up (token check and memberships; on
/// `/v1/yjs` also the room load). At most `limit` joins run at once; later ones wait in
/// arrival order, and once `queueLimit` are waiting a newcomer is refused at
/// once. Under a reconnect storm every client is then either served in turn
/// or told to come back, instead of all of them sharing the machine until
/// each one times out.
public final class JoinGate: Sendable {
    /// Why a join did not get a slot: a struct over a stable code, so that new
    /// kinds can be added without breaking callers (compare with `==`).
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        /// `busy` or `cancelled`.
        public var code: String
        private init(_ code: String) { self.code = code }
        public var description: String { code }

        /// The waiting queue is full.
        public static let busy = Refusal("busy")
        /// The waiting task was cancelled (its client went away).
        public static let cancelled = Refusal("cancelled")
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var running = 0
        var waiting: [Waiter] = []
        /// Index of the first live entry of `waiting` (a queue without element shifting).
        var head = 0
        var nextID: UInt64 = 0

        var waitingCount: Int { waiting.count - head }

        mutating func popFirst() -> Waiter? {
            guard head < waiting.count else { return nil }
            let w = waiting[head]
            head += 1
            if head > 1_024, head * 2 > waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return w
        }
    }

    public let limit: Int
    public let queueLimit: Int
    private let state = Mutex(State())
    private let metrics: ServerMetrics?

    public init(limit: Int, queueLimit: Int, metrics: ServerMetrics? = nil) {
        self.limit = max(1, limit)
        self.queueLimit = max(0, queueLimit)
        self.metrics = metrics
    }

    /// Joins running and waiting now.
    public var load: (running: Int, waiting: Int) { state.withLock { ($0.running, $0.waitingCount) } }

    /// Waits for a slot; throws ``Refusal/busy`` when the queue is full and
    /// ``Refusal/cancelled`` when the task is cancelled while waiting. Every
    /// successful call must be paired with one ``leave()``.
    public func enter() async throws(Refusal) {
        enum Decision { case run, wait(UInt64), refuse }
        let decision: Decision = state.withLock { s in
            if s.running < limit && s.waitingCount == 0 {
                s.running += 1
                return .run
            }
            guard s.waitingCount < queueLimit else { return .refuse }
            s.nextID += 1
            return .wait(s.nextID)
        }
        switch decision {
        case .run:
            metrics?.joinsRunning.increment()
            return
        case .refuse:
            metrics?.joinsRefused.increment()
            throw .busy
        case .wait(let id):
            metrics?.joinsWaiting.increment()
            defer { metrics?.joinsWaiting.decrement() }
            do {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                        let cancelledAlready = state.withLock { s in
                            if Task.isCancelled { return true }
                            s.waiting.append(Waiter(id: id, continuation: c))
                            return false
                        }
                        if cancelledAlready { c.resume(throwing: Refusal.cancelled) }
                    }
                } onCancel: {
                    let removed: Waiter? = state.withLock { s in
                        guard let i = s.waiting[s.head...].firstIndex(where: { $0.id == id }) else { return nil }
                        return s.waiting.remove(at: i)
                    }
                    removed?.continuation.resume(throwing: Refusal.cancelled)
                }
            } catch {
                throw .cancelled
            }
            // The slot was handed over by `leave()` (running stayed counted).
            metrics?.joinsRunning.increment()
        }
    }

    /// Ends a join: the slot goes to the longest waiting one, if any.
    public func leave() {
        metrics?.joinsRunning.decrement()
        let next: Waiter? = state.withLock { s in
            if let w = s.popFirst() { return w }
            s.running -= 1
            return nil
        }
        next?.continuation.resume()
    }

    /// Waits for a slot (as ``enter()``) and returns it as a value that gives
    /// it back once, for set-ups whose end lies in another function.
    public func slot() async throws(Refusal) -> JoinSlot {
        try await enter()
        return JoinSlot(gate: self)
    }
}

/// A slot of a ``JoinGate``; ``release()`` gives it back, at most once.
public final class JoinSlot: Sendable {
    private let gate: JoinGate
    private let released = Atomic<Bool>(false)

    init(gate: JoinGate) { self.gate = gate }

    public func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { gate.leave() }
    }

    deinit { release() }
}
