import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

/// `nest-bench relay-floor`: the least a y-websocket relay can do on this
/// stack (SwiftNIO, one event loop by default, like node's one thread),
/// measured beside the real servers to show what part of their CPU per
/// delivery is the transport itself: it answers a client's sync step 1 with
/// an empty sync step 2 and forwards every other binary message, unread, to
/// the other connections on the same path. No document, no validation, no
/// store, no authentication: not a server, a floor.
enum RelayFloorCommand {
    static func run(_ argv: [String]) async -> Int32 {
        var port = 0, threads = 1
        var i = 0
        while i < argv.count {
            let value = i + 1 < argv.count ? Int(argv[i + 1]) : nil
            switch (argv[i], value) {
            case ("--port", let v?): port = v
            case ("--threads", let v?): threads = max(1, v)
            default:
                FileHandle.standardError.write(Data("usage: nest-bench relay-floor [--port P] [--threads N]\n".utf8))
                return 2
            }
            i += 2
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let rooms = FloorRooms()
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 24,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, head in
                let path = String(head.uri.split(separator: "?").first ?? "")
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FloorRelayHandler(path: path, rooms: rooms))
                }
            }
        )
        do {
            let listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 4096)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
                .bind(host: "127.0.0.1", port: port).get()
            FileHandle.standardOutput.write(Data("relay floor listening on 127.0.0.1:\(listener.localAddress?.port ?? port)\n".utf8))
            try await listener.closeFuture.get()
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench relay-floor: \(error)\n".utf8))
            return 1
        }
    }
}

/// The open connections by path.
final class FloorRooms: Sendable {
    private let rooms = Mutex<[String: [ObjectIdentifier: any Channel]]>([:])

    func join(_ path: String, _ channel: any Channel) {
        rooms.withLock { $0[path, default: [:]][ObjectIdentifier(channel)] = channel }
    }

    func leave(_ path: String, _ channel: any Channel) {
        rooms.withLock { $0[path]?[ObjectIdentifier(channel)] = nil }
    }

    func others(in path: String, than channel: any Channel) -> [any Channel] {
        rooms.withLock { ($0[path] ?? [:]).compactMap { $0.key == ObjectIdentifier(channel) ? nil : $0.value } }
    }
}

/// One floor connection: forwards what it receives, answers sync step 1, closes on close.
final class FloorRelayHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Sync step 2 of an empty update (y-sync message 0, step 2, the two-byte empty update).
    private static let emptySyncStep2: [UInt8] = [0, 1, 2, 0, 0]
    let path: String
    let rooms: FloorRooms

    init(path: String, rooms: FloorRooms) {
        self.path = path
        self.rooms = rooms
    }

    func handlerAdded(context: ChannelHandlerContext) {
        rooms.join(path, context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        rooms.leave(path, context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            let payload = frame.unmaskedData
            if payload.readableBytes >= 2, payload.getInteger(at: payload.readerIndex, as: UInt8.self) == 0,
               payload.getInteger(at: payload.readerIndex + 1, as: UInt8.self) == 0
            {
                let reply = context.channel.allocator.buffer(bytes: Self.emptySyncStep2)
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: reply)), promise: nil)
                return
            }
            for other in rooms.others(in: path, than: context.channel) {
                other.writeAndFlush(WebSocketFrame(fin: true, opcode: .binary, data: payload), promise: nil)
            }
        case .connectionClose:
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)))
                .whenComplete { _ in channel.close(promise: nil) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
    }
}

/// The two floors that `nest-bench server --floor` measures, each a process on a free port.
enum RelayFloors {
    private static let listening = #"listening on [0-9.]+:([0-9]+)"#

    /// `nest-bench relay-floor`, run by this binary.
    static func nio() throws -> ListeningProcess {
        try ListeningProcess.start(CommandLine.arguments[0], ["relay-floor"], listening: listening)
    }

    /// The same floor on node and the `ws` package that Debian's y-websocket
    /// server runs on: what the reference pays for its transport alone.
    static func node() throws -> ListeningProcess {
        guard FileManager.default.fileExists(atPath: "/usr/share/nodejs/ws") else { throw BenchError("node-ws is not installed (apt-get install node-ws)") }
        let script = (NSTemporaryDirectory() as NSString).appendingPathComponent("nest-bench-relay-floor-\(getpid()).cjs")
        try nodeSource.write(toFile: script, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["NODE_PATH"] = "/usr/share/nodejs"
        var floor = try ListeningProcess.start("/usr/bin/env", ["node", script], environment: env, listening: listening)
        floor.leftovers = [script]
        return floor
    }

    /// One thread, rooms by path, sync step 1 answered with an empty step 2, everything else forwarded.
    private static let nodeSource = """
        const { WebSocketServer } = require('ws')
        const rooms = new Map()
        const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
        server.on('listening', () => console.log('relay floor listening on 127.0.0.1:' + server.address().port))
        server.on('connection', (socket, request) => {
          const path = request.url.split('?')[0]
          let room = rooms.get(path)
          if (!room) rooms.set(path, room = new Set())
          room.add(socket)
          socket.on('message', data => {
            if (data[0] === 0 && data[1] === 0) return socket.send(Buffer.from([0, 1, 2, 0, 0]))
            for (const other of room) if (other !== socket) other.send(data)
          })
          socket.on('close', () => { room.delete(socket); if (room.size === 0) rooms.delete(path) })
        })
        """
}
