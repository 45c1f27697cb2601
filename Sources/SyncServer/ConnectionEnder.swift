import Logging
import Synchronization

/// Why a connection is being closed: the WebSocket close code and reason.
struct ConnectionClosed: Error {
    var code: UInt16
    var reason: String
}

/// Ends a connection from outside its reader (revocation, expiry, hello
/// deadline): keeps the first reason and cancels the reader task, even one
/// started after the reason arrived.
final class ConnectionEnder: Sendable {
    private let state = Mutex<(reason: ConnectionClosed?, reader: Task<Void, any Error>?)>((nil, nil))

    var reason: ConnectionClosed? { state.withLock { $0.reason } }

    func end(_ why: ConnectionClosed) {
        let reader = state.withLock { s -> Task<Void, any Error>? in
            guard s.reason == nil else { return nil }
            s.reason = why
            return s.reader
        }
        reader?.cancel()
    }

    /// Waits for the connection's reader (cancelled with the caller) and
    /// returns why the connection ends: the reason given to ``end(_:)``,
    /// else what the reader threw; nil when it failed otherwise (logged).
    func run(_ reader: Task<Void, any Error>, logger: Logger) async -> ConnectionClosed? {
        let ended = state.withLock { s -> Bool in
            s.reader = reader
            return s.reason != nil
        }
        if ended { reader.cancel() }
        var thrown: ConnectionClosed?
        do {
            try await withTaskCancellationHandler { try await reader.value } onCancel: { reader.cancel() }
        } catch let closed as ConnectionClosed {
            thrown = closed
        } catch {
            if reason == nil { logger.info("connection ended", metadata: ["error": "\(error)"]) }
        }
        return reason ?? thrown
    }
}
