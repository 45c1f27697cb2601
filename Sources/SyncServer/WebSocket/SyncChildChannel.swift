import Prometheus
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// How the server treats each accepted connection: a WebSocket upgrade on a
/// sync endpoint gets a plain NIO pipeline ending in a ``PeerChannelHandler``
/// (no task, no async stream per connection: an idle connection is its
/// socket and a few small objects); everything else is HTTP, answered by the
/// Hummingbird router.
struct SyncChildChannel: ServerChildChannel, HTTPChannelHandler {
    enum Upgrade: Sendable {
        case websocket
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgrade: EventLoopFuture<Upgrade>
        let channel: any Channel
    }

    /// Makes the session for a WebSocket upgrade request, or nil when the
    /// request is not for a sync endpoint.
    typealias Route = @Sendable (_ head: HTTPRequestHead, _ id: ConnectionID) -> (any PeerSession)?

    let responder: HTTPChannelHandler.Responder
    /// Largest frame, and largest message, read from a peer.
    let maxMessageBytes: Int
    let route: Route
    let accepts: @Sendable (HTTPRequestHead) -> Bool
    let peers: PeerDirectory
    let metrics: ServerMetrics

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // The channel keeps its receive buffer between reads, sized by this allocator: NIO's default starts
            // at 2 KB, a fifth of what an idle connection costs. Most connections are idle or exchange small
            // messages; the allocator still doubles the buffer for a peer that sends large ones.
            try channel.syncOptions?.setOption(
                ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
            let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                maxFrameSize: maxMessageBytes,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeSucceededFuture(accepts(head) ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        let id = peers.nextID()
                        guard let session = route(head, id) else { throw ChannelError.inappropriateOperationForState }
                        let peers = self.peers
                        // Writes made on the encoder's context start below it: pre-encoded frames skip the encoder.
                        let wire = NIOLoopBound(try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self), eventLoop: channel.eventLoop)
                        let peer = WebSocketPeer(
                            id: id, channel: channel, wire: wire, outbox: peers.outboxes.outbox(for: channel.eventLoop), metrics: metrics, onFinish: { peers.remove($0) })
                        let pump = InboundPump(session: session) { reading in
                            if !reading { metrics.readsPaused.increment() }
                            channel.setOption(ChannelOptions.autoRead, value: reading).whenComplete { _ in
                                if reading { channel.read() }
                            }
                        }
                        peer.pump = pump
                        try channel.pipeline.syncOperations.addHandler(
                            // Clients fragment large messages (Hummingbird's client at 16 KB by default): enough
                            // fragments for the largest message at 4 KB each, none of them empty.
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: max(256, maxMessageBytes / 4096),
                                maxAccumulatedFrameSize: maxMessageBytes))
                        try channel.pipeline.syncOperations.addHandler(PeerChannelHandler(peer: peer, pump: pump))
                        peers.add(peer)
                        pump.start(peer)
                        return .websocket
                    }
                }
            )
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        return .http(try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)))
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrades)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgrade: upgrade, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgrade.get() {
            case .websocket:
                // The pipeline runs the connection from here on; this task ends.
                return
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
        }
    }
}
