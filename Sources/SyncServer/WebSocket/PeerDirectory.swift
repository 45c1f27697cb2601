import Synchronization

/// Every upgraded connection of the server, from upgrade until its session
/// finished: the keepalive sweep pings them, and shutdown waits for them.
final class PeerDirectory: Sendable {
    private let peers = Mutex<[ConnectionID: WebSocketPeer]>([:])
    private let lastID = Atomic<UInt64>(0)
    /// Where peers' writes are coalesced, one outbox per event loop.
    let outboxes = LoopOutboxes()

    /// A new connection id, unique in this process.
    func nextID() -> ConnectionID { lastID.add(1, ordering: .relaxed).newValue }

    func add(_ peer: WebSocketPeer) { peers.withLock { $0[peer.id] = peer } }
    func remove(_ id: ConnectionID) { _ = peers.withLock { $0.removeValue(forKey: id) } }

    var count: Int { peers.withLock { $0.count } }

    /// Pings every peer; drops those that did not answer the previous ping.
    /// One sweep for all connections instead of a timer per connection.
    func keepalive() {
        for peer in peers.withLock({ Array($0.values) }) { peer.keepalive() }
    }

    /// Closes every connection with `why` and waits (at most `timeout`)
    /// until their sessions have finished, so in-flight commits complete.
    func closeAll(_ why: ConnectionClosed, timeout: Duration) async {
        for peer in peers.withLock({ Array($0.values) }) { peer.close(why) }
        let deadline = ContinuousClock.now + timeout
        while count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
