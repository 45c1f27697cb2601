import Logging

/// Why a connection is being closed: the WebSocket close code and reason.
struct ConnectionClosed: Error {
    var code: UInt16
    var reason: String
}

/// What every connection's session uses of the server. A class: every
/// session keeps it, and by value each idle connection would carry its own
/// copy (the configuration alone holds a dozen strings and numbers).
final class ServerContext: Sendable {
    let config: ServerConfiguration
    let store: any DocumentStore
    let registry: RoomRegistry
    let verifier: TokenVerifier
    let live: LiveConnections
    let gate: JoinGate
    /// Memberships of joining users, read together when they join together.
    let memberships: MembershipReads
    let metrics: ServerMetrics
    /// Devices registered over connections open on this node.
    let liveDevices: LiveDevices
    let logger: Logger

    init(config: ServerConfiguration, store: any DocumentStore, registry: RoomRegistry, verifier: TokenVerifier,
         live: LiveConnections, gate: JoinGate, metrics: ServerMetrics, liveDevices: LiveDevices = LiveDevices(), logger: Logger) {
        self.config = config
        self.store = store
        self.registry = registry
        self.verifier = verifier
        self.live = live
        self.gate = gate
        memberships = MembershipReads(store: store)
        self.metrics = metrics
        self.liveDevices = liveDevices
        self.logger = logger
    }
}
