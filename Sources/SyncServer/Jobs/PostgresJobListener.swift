public import Logging
import PostgresNIO
public import ServiceLifecycle

/// Wakes this node's job worker when any node inserts a job: `LISTEN`s on
/// the store's job channel on a connection of its own, and signals the
/// worker's ``Wakeup`` at each notification. A latency hint only: while the
/// listening connection is down (it reconnects with backoff) the worker's
/// poll still finds every job.
public final class PostgresJobListener: Service {
    private let store: PostgresDocumentStore
    private let wakeup: Wakeup
    private let logger: Logger

    public init(store: PostgresDocumentStore, wakeup: Wakeup, logger: Logger) {
        self.store = store
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async throws {
        var delay = Duration.milliseconds(250)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await store.client.withConnection { conn in
                    try await conn.listen(on: PostgresDocumentStore.jobChannel) { notifications in
                        delay = .milliseconds(250)
                        // Jobs inserted while the listener was down are found now, not at the next poll.
                        self.wakeup.signal()
                        for try await _ in notifications.cancelOnGracefulShutdown() { self.wakeup.signal() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("job notifications lost; polling meanwhile", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(10))
        }
    }
}
