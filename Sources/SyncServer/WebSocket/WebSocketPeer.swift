import Prometheus
import NIOCore
import NIOWebSocket
import Synchronization
import SyncProtocol

/// One WebSocket connection as the rest of the server sees it: send a
/// message, close with a code. Every method may be called from any thread;
/// writes reach the socket in the order they were made.
final class WebSocketPeer: Sendable {
    let id: ConnectionID
    let channel: any Channel
    private let metrics: ServerMetrics
    private let closing = Atomic<Bool>(false)
    /// A keepalive ping went out and nothing has been heard since.
    private let awaitingPong = Atomic<Bool>(false)
    private let onFinish: @Sendable (ConnectionID) -> Void
    private let pumpBox = Mutex<InboundPump?>(nil)
    private let outbox: LoopOutbox

    /// How long a closing peer has to answer the close frame before the socket is closed anyway.
    static let closeGrace: TimeAmount = .seconds(3)

    /// Where whole frames enter the pipeline, below the frame encoder.
    private let wire: NIOLoopBound<ChannelHandlerContext>

    init(
        id: ConnectionID, channel: any Channel, wire: NIOLoopBound<ChannelHandlerContext>, outbox: LoopOutbox, metrics: ServerMetrics,
        onFinish: @escaping @Sendable (ConnectionID) -> Void
    ) {
        self.id = id
        self.channel = channel
        self.wire = wire
        self.outbox = outbox
        self.metrics = metrics
        self.onFinish = onFinish
    }

    /// The connection's message pump (set once, right after creation).
    var pump: InboundPump? {
        get { pumpBox.withLock { $0 } }
        set { pumpBox.withLock { $0 = newValue } }
    }

    var isClosing: Bool { closing.load(ordering: .relaxed) }

    /// Sends one binary message.
    func send(_ bytes: [UInt8]) {
        send(frame: ServerFrame.binary(bytes))
    }

    /// Sends a whole frame made by ``ServerFrame`` (it may be shared with other peers: it is not modified).
    func send(frame: ByteBuffer) {
        metrics.bytesOut.increment(by: Int64(frame.readableBytes))
        outbox.post(.wire(wire, frame))
    }

    /// Ends the connection from the server's side: whatever the peer sent
    /// that is not handled yet is dropped, a close frame with the code and
    /// reason goes out after everything already sent, and the socket closes
    /// when the peer answers (or after ``closeGrace``).
    func close(_ why: ConnectionClosed) {
        guard !closing.exchange(true, ordering: .relaxed) else { return }
        pump?.drop(self)
        var data = channel.allocator.buffer(capacity: 2 + 123)
        data.writeInteger(why.code)
        // A close frame's payload is at most 125 bytes.
        var reason = Substring(why.reason)
        while reason.utf8.count > 123 { reason = reason.dropLast() }
        data.writeString(String(reason))
        outbox.post(.close(channel, WebSocketFrame(fin: true, opcode: .connectionClose, data: data), grace: Self.closeGrace))
    }

    /// The peer sent a close frame: answer it (echoing the code), close the
    /// socket, and let the session handle what was already received.
    func peerClosed(_ payload: ByteBuffer) {
        pump?.closeInput(self)
        if closing.exchange(true, ordering: .relaxed) {
            // Our close frame went out first: this is its answer.
            channel.close(promise: nil)
            return
        }
        var echo = channel.allocator.buffer(capacity: 2)
        var payload = payload
        echo.writeInteger(payload.readInteger(as: UInt16.self) ?? 1000)
        outbox.post(.close(channel, WebSocketFrame(fin: true, opcode: .connectionClose, data: echo), grace: .zero))
    }

    /// Something arrived from the peer: it is alive.
    func heard() { awaitingPong.store(false, ordering: .relaxed) }

    /// Called by the keepalive sweep: pings the peer, or drops the socket
    /// when the previous ping went unanswered for a whole period.
    func keepalive() {
        if awaitingPong.exchange(true, ordering: .relaxed) {
            channel.close(promise: nil)
            return
        }
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .ping, data: channel.allocator.buffer(capacity: 0)), promise: nil)
    }

    /// The session finished: nothing of this connection runs any more.
    func finished() { onFinish(id) }
}

/// The channel handler of an upgraded connection: control frames are
/// answered here, data messages go to the connection's pump.
final class PeerChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let peer: WebSocketPeer
    private let pump: InboundPump

    init(peer: WebSocketPeer, pump: InboundPump) {
        self.peer = peer
        self.pump = pump
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        peer.heard()
        switch frame.opcode {
        case .binary:
            pump.enqueue(.binary(frame.unmaskedData), peer)
        case .text:
            pump.enqueue(.text(frame.unmaskedData), peer)
        case .ping:
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            peer.peerClosed(frame.unmaskedData)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pump.closeInput(peer)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: in-flight work finishes, then the session ends.
            peer.close(ConnectionClosed(code: CloseCode.goingAway, reason: "server shutting down"))
        } else if let e = event as? ChannelEvent, e == .inputClosed {
            pump.closeInput(peer)
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments:
            peer.close(ConnectionClosed(code: CloseCode.messageTooBig, reason: "message too large"))
        case is NIOWebSocketFrameAggregator.Error:
            peer.close(ConnectionClosed(code: CloseCode.protocolError, reason: "bad fragmentation"))
        default:
            // Frame decoding errors were answered by NIO's protocol error handler; socket errors end the connection.
            pump.closeInput(peer)
            context.close(promise: nil)
        }
    }
}
