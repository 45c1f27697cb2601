import ServiceLifecycle

/// A background loop as a `Service`: runs `tick` every `interval` until its
/// service group shuts down, gracefully (a signal) or by cancellation. A tick
/// that is running when the shutdown comes finishes first.
struct PeriodicService: Service, CustomStringConvertible {
    /// What the loop does, for the service group's log.
    let description: String
    let interval: Duration
    let tick: @Sendable () async -> Void

    init(_ description: String, every interval: Duration, tick: @escaping @Sendable () async -> Void) {
        self.description = description
        self.interval = interval
        self.tick = tick
    }

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            await tick()
        }
    }
}
