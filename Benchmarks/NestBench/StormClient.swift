import NIOCore
import NIOPosix
import SyncProtocol

/// A minimal y-websocket client for connection storms: the upgrade, one sync
/// step 1 for an empty state vector, sync step 2 awaited, a closing
/// handshake. One channel handler and no task per connection, so that five
/// thousand of them do not cost the load generator more than the server
/// they measure (Hummingbird's client took as much CPU as the server did).
enum StormClient {
    /// When a client's upgrade completed and when its sync step 2 arrived, in
    /// seconds since the storm started.
    struct Times: Sendable {
        var upgraded: Double
        var synced: Double
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to `path` on loopback `port`, resyncs, closes; succeeds once the socket is closed.
    static func resync(group: any EventLoopGroup, port: Int, path: String, start: ContinuousClock.Instant) -> EventLoopFuture<Times> {
        let loop = group.next()
        let done = loop.makePromise(of: Times.self)
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(StormHandler(path: path, port: port, start: start, done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenFailure { done.fail($0) }
        return done.futureResult
    }
}

/// One storm client's connection, from the upgrade request to the close.
private final class StormHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case upgrading, open, closing
    }

    private let path: String
    private let port: Int
    private let start: ContinuousClock.Instant
    private let done: EventLoopPromise<StormClient.Times>
    private var phase = Phase.upgrading
    private var received = ByteBuffer()
    private var message = ByteBuffer()
    private var times: StormClient.Times?
    private var upgraded = 0.0
    private var finished = false
    private var maskState = UInt64.random(in: 0...UInt64.max)

    init(path: String, port: Int, start: ContinuousClock.Instant, done: EventLoopPromise<StormClient.Times>) {
        self.path = path
        self.port = port
        self.start = start
        self.done = done
    }

    private var elapsed: Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        do { try process(context) } catch {
            finish(.failure(error))
            context.close(promise: nil)
        }
    }

    private func process(_ context: ChannelHandlerContext) throws {
        if phase == .upgrading {
            let view = received.readableBytesView
            guard let end = view.firstRange(of: [13, 10, 13, 10]) else { return }
            let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
            guard head.hasPrefix("HTTP/1.1 101") else { throw StormClient.Failure(description: "upgrade refused: \(head.prefix(80))") }
            received.moveReaderIndex(to: end.upperBound)
            upgraded = elapsed
            phase = .open
            send(context, opcode: 0x2, YWebSocketMessage.syncStep1(stateVector: [0]).encoded())
        }
        // Frames from the server: unmasked, possibly fragmented.
        while let frame = try nextFrame() {
            switch frame.opcode {
            case 0x0, 0x1, 0x2:
                var payload = frame.payload
                message.writeBuffer(&payload)
                guard frame.fin else { continue }
                let whole = Array(buffer: message)
                message.clear()
                if times == nil, case .syncStep2 = try YWebSocketMessage(decoding: whole) {
                    times = StormClient.Times(upgraded: upgraded, synced: elapsed)
                    phase = .closing
                    send(context, opcode: 0x8, [0x03, 0xE8])
                }
            case 0x8:
                // The server's close (an answer to ours, or its own refusal): the socket can go.
                context.close(promise: nil)
                return
            case 0x9:
                send(context, opcode: 0xA, Array(buffer: frame.payload))
            default:
                break
            }
        }
    }

    private func nextFrame() throws -> (fin: Bool, opcode: UInt8, payload: ByteBuffer)? {
        guard received.readableBytes >= 2, let b0 = received.getInteger(at: received.readerIndex, as: UInt8.self),
              let b1 = received.getInteger(at: received.readerIndex + 1, as: UInt8.self) else { return nil }
        guard b1 & 0x80 == 0 else { throw StormClient.Failure(description: "masked frame from the server") }
        var header = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let l = received.getInteger(at: received.readerIndex + 2, as: UInt16.self) else { return nil }
            (header, length) = (4, Int(l))
        } else if length == 127 {
            guard let l = received.getInteger(at: received.readerIndex + 2, as: UInt64.self) else { return nil }
            guard l < 1 << 30 else { throw StormClient.Failure(description: "frame of \(l) bytes") }
            (header, length) = (10, Int(l))
        }
        guard received.readableBytes >= header + length else { return nil }
        received.moveReaderIndex(forwardBy: header)
        guard let payload = received.readSlice(length: length) else { return nil }
        return (b0 & 0x80 != 0, b0 & 0x0F, payload)
    }

    /// A client frame: final, masked (RFC 6455 section 5.3).
    private func send(_ context: ChannelHandlerContext, opcode: UInt8, _ payload: [UInt8]) {
        var frame = context.channel.allocator.buffer(capacity: payload.count + 14)
        frame.writeInteger(0x80 | opcode)
        if payload.count < 126 {
            frame.writeInteger(UInt8(0x80 | payload.count))
        } else if payload.count <= Int(UInt16.max) {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        } else {
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(payload.count))
        }
        // A different mask per frame, from a cheap generator: the system's costs a system call each time,
        // and the server only unmasks.
        maskState = maskState &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let mask = withUnsafeBytes(of: UInt32(truncatingIfNeeded: maskState >> 32)) { Array($0) }
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let times { finish(.success(times)) } else { finish(.failure(StormClient.Failure(description: "closed before sync step 2"))) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    /// Completes the client's promise once (an error and the close that follows it both end the client).
    private func finish(_ result: Result<StormClient.Times, any Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(result)
    }
}
