import Synchronization

/// When a steady load starts: once every client has joined its room (or
/// given up), so that latency and CPU per delivery are measured under the
/// load, not while the server is still accepting thousands of connections
/// (the join and reconnect storms are measured on their own).
final class LoadStart: Sendable {
    let expected: Int
    fileprivate let count = Atomic<Int>(0)
    private let startedAt = Mutex<ContinuousClock.Instant?>(nil)

    init(expected: Int) { self.expected = expected }

    /// One client's place in the count, counted once however often it says it joined.
    final class Seat: Sendable {
        private let start: LoadStart
        private let counted = Atomic<Bool>(false)
        fileprivate init(_ start: LoadStart) { self.start = start }

        /// The client joined (or gave up: it still counts, so that the load starts).
        func joined() {
            guard !counted.exchange(true, ordering: .relaxed) else { return }
            if start.count.wrappingAdd(1, ordering: .relaxed).newValue >= start.expected { start.open() }
        }
    }

    /// A seat for one client of the load.
    func seat() -> Seat { Seat(self) }

    fileprivate func open() { startedAt.withLock { if $0 == nil { $0 = .now } } }

    /// The start, waiting for it; after `deadline` the load starts with whoever joined.
    func wait(deadline: Duration = .seconds(60)) async throws -> ContinuousClock.Instant {
        let until = ContinuousClock.now + deadline
        while true {
            if let t = startedAt.withLock({ $0 }) { return t }
            if ContinuousClock.now >= until { open() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
