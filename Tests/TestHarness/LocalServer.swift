import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// A fake's HTTP server on a free port of 127.0.0.1: started, its port
/// known, and stopped when the fake is.
final class LocalServer: Sendable {
    let port: Int
    private let task: Task<Void, any Error>

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// Starts `router` (HTTP/1, or what `server` builds, e.g. HTTP/2 over TLS) and returns once it listens.
    static func start<R: HTTPResponderBuilder>(_ router: R, server: HTTPServerBuilder = .http1(), label: String) async throws -> LocalServer
    where R.Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in readyContinuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.runService() }
        var port = 0
        for await p in ready {
            port = p
            break
        }
        return LocalServer(port: port, task: task)
    }

    func stop() { task.cancel() }
}
