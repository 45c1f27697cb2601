import Logging

/// Why a connection is being closed: the WebSocket close code and reason.
struct ConnectionClosed: Error {
    var code: UInt16
    var reason: String
}

/// What every connection's session uses of the server.
struct ServerContext: Sendable {
    let config: ServerConfiguration
    let store: any DocumentStore
    let registry: RoomRegistry
    let verifier: TokenVerifier
    let live: LiveConnections
    let gate: JoinGate
    let metrics: ServerMetrics
    let logger: Logger
}
