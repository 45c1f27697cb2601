import Prometheus
import Foundation
import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
import NIOWebSocket
import PostgresNIO
import Synchronization
import SyncProtocol

/// Why the server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// `nest-server serve`: HTTP health endpoints and the WebSocket sync
/// endpoints on one port, backed by the configured store.
public enum NestServerApp {
    /// Opens the store the configuration names — PostgreSQL when
    /// `databaseURL` is set, else the embedded SQLite file — migrates it, and
    /// runs `body` with it (the PostgreSQL client runs meanwhile).
    public static func withStore<T: Sendable>(
        _ config: ServerConfiguration, logger: Logger, _ body: @escaping @Sendable (any DocumentStore) async throws -> T
    ) async throws -> T {
        if let url = config.databaseURL {
            let client = PostgresClient(configuration: try PostgresDocumentStore.configuration(url: url), backgroundLogger: logger)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await client.run()
                    return nil
                }
                defer { group.cancelAll() }
                let store = PostgresDocumentStore(client: client, logger: logger)
                try await store.migrate()
                return try await body(store)
            }
        }
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let store = try SQLiteDocumentStore(path: (config.dataDirectory as NSString).appendingPathComponent("nest.sqlite"))
        try await store.migrate()
        return try await body(store)
    }

    /// Runs until SIGTERM or SIGINT. `onListening` receives the bound port.
    public static func run(_ config: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var jwks: String?
        if let path = config.jwksFile {
            do { jwks = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ServerStartError(description: "cannot read the JWKS file \(path): \(error.localizedDescription)")
            }
        }
        let secret = config.jwtSecret.flatMap { $0.isEmpty ? nil : $0 }
        guard secret != nil || jwks != nil else {
            throw ServerStartError(description: "no token keys: set NEST_JWT_SECRET (HS256) or --jwt-secret, and/or NEST_JWKS_FILE (ES256/RS256) or --jwks-file")
        }
        let verifier = try await TokenVerifier(secret: secret, jwksJSON: jwks)
        try await withStore(config, logger: logger) { store in
            try await serve(config, store: store, verifier: verifier, logger: logger, onListening: onListening)
        }
    }

    static func serve(
        _ config: ServerConfiguration, store: any DocumentStore, verifier: TokenVerifier, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        let metrics = ServerMetrics()
        let registry = RoomRegistry(store: store, metrics: metrics)
        let live = LiveConnections()
        let ids = Atomic<UInt64>(0)
        let gate = JoinGate(limit: config.maxConcurrentJoins, queueLimit: config.joinQueueLimit, metrics: metrics)

        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        router.get("/readyz") { _, _ -> Response in
            do {
                _ = try await store.memberships(userID: "")
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "store unavailable\n")))
            }
        }

        let wsConfig = HTTP1WebSocketUpgradeChannel.Configuration(
            // Frames up to twice the message limit are read so that an oversized message is answered with
            // message_too_large (PROTOCOL.md section 2); larger ones end the connection (1009).
            ws: WebSocketServerConfiguration(maxFrameSize: 2 * config.maxMessageBytes, autoPing: .enabled(timePeriod: .seconds(30))))
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: wsConfig) { request, _, _ in
                guard let path = request.path else { return .dontUpgrade }
                if path == "/v1/sync" || path.hasPrefix("/v1/sync?") {
                    var bearer: String?
                    if let auth = request.headerFields[.authorization], auth.hasPrefix("Bearer ") { bearer = String(auth.dropFirst(7)) }
                    let id = ids.add(1, ordering: .relaxed).newValue
                    let token = bearer
                    return .upgrade([:]) { inbound, outbound, context in
                        var log = context.logger
                        log[metadataKey: "connection"] = "\(id)"
                        let connection = NestSyncConnection(
                            id: id, bearer: token, registry: registry, store: store, verifier: verifier, config: config, live: live,
                            gate: gate, metrics: metrics, logger: log)
                        metrics.nestConnections.increment()
                        defer { metrics.nestConnections.decrement() }
                        try await connection.run(inbound: inbound, outbound: outbound)
                    }
                }
                guard path.hasPrefix("/v1/yjs/") else { return .dontUpgrade }
                let (rawDoc, query) = splitQuery(String(path.dropFirst("/v1/yjs/".count)))
                let documentID = rawDoc.removingPercentEncoding ?? rawDoc
                var bearer = query["token"]
                if bearer == nil, let auth = request.headerFields[.authorization], auth.hasPrefix("Bearer ") {
                    bearer = String(auth.dropFirst(7))
                }
                let token = bearer
                let id = ids.add(1, ordering: .relaxed).newValue
                return .upgrade([:]) { inbound, outbound, context in
                    var log = context.logger
                    log[metadataKey: "connection"] = "\(id)"
                    log[metadataKey: "document"] = "\(documentID)"
                    // Refusals happen after the upgrade so the client sees a close code and reason.
                    guard DocumentID(documentID) != nil else {
                        try await outbound.close(.unknown(CloseCode.badMessage), reason: "unknown document id")
                        return
                    }
                    // Admission control: the slot is held until the room is subscribed.
                    let slot: JoinSlot
                    do { slot = try await gate.slot() } catch {
                        if (error as? JoinGate.Refusal) == .busy { log.info("join refused: server busy") }
                        try await outbound.close(.unknown(CloseCode.tryAgainLater), reason: "server busy, retry later")
                        return
                    }
                    defer { slot.release() }
                    let user: String
                    switch await verifier.user(for: token) {
                    case .success(let u): user = u
                    case .failure(let problem):
                        log.info("token refused", metadata: ["problem": "\(problem)"])
                        try await outbound.close(.unknown(CloseCode.unauthenticated), reason: problem == .expired ? "token expired" : "invalid token")
                        return
                    }
                    let workspace = String(documentID.split(separator: "/")[0])
                    let role: Role
                    do {
                        guard let m = try await store.memberships(userID: user).first(where: { $0.workspaceID == workspace }) else {
                            try await outbound.close(.unknown(CloseCode.forbidden), reason: "not a member of \(workspace)")
                            return
                        }
                        role = m.role
                    } catch {
                        try await outbound.close(.unknown(1011), reason: "store unavailable")
                        return
                    }
                    metrics.yjsConnections.increment()
                    defer { metrics.yjsConnections.decrement() }
                    try await serveYjs(
                        id: id, documentID: documentID, workspace: workspace, user: user, role: role, token: token ?? "", verifier: verifier,
                        registry: registry, live: live, config: config, metrics: metrics, joinSlot: slot, inbound: inbound, outbound: outbound,
                        logger: log)
                }
            },
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "nest-server", backlog: config.listenBacklog),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? config.port) },
            logger: logger
        )
        // The server, a watcher that applies membership changes to live connections within a second,
        // and the sweep that unloads idle documents and keeps loaded ones under the memory budget.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(2))
                    let r = await registry.sweep(idleAfter: .seconds(config.roomIdleSeconds), memoryBudget: config.memoryBudgetBytes)
                    if r.removedIdle + r.unloadedForBudget > 0 {
                        logger.debug("rooms unloaded", metadata: ["idle": "\(r.removedIdle)", "budget": "\(r.unloadedForBudget)", "resident_bytes": "\(r.residentBytes)"])
                    }
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(500))
                    await live.check(store)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func splitQuery(_ s: String) -> (String, [String: String]) {
        guard let q = s.firstIndex(of: "?") else { return (s, [:]) }
        var out: [String: String] = [:]
        for pair in s[s.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard let k = kv.first else { continue }
            out[String(k)] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        return (String(s[..<q]), out)
    }

    /// One y-websocket peer: subscribe, sync, relay, until the socket closes,
    /// the token expires, or the peer floods.
    static func serveYjs(
        id: ConnectionID, documentID: String, workspace: String, user: String, role: Role, token: String, verifier: TokenVerifier,
        registry: RoomRegistry, live: LiveConnections, config: ServerConfiguration, metrics: ServerMetrics, joinSlot: JoinSlot,
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger
    ) async throws {
        let room = await registry.room(documentID)
        let (stream, queue) = AsyncStream<[UInt8]>.makeStream()
        let serverVector: [UInt8]
        do {
            (_, serverVector) = try await room.subscribe(id, stateVector: [0]) { event in
                switch event {
                case .update(let u, _): queue.yield(YWebSocketMessage.update(u).encoded())
                case .awareness(let a): queue.yield(YWebSocketMessage.awareness(a).encoded())
                }
            }
        } catch {
            logger.error("cannot load document", metadata: ["error": "\(error)"])
            try await outbound.close(.unknown(1011), reason: "document unavailable")
            return
        }
        joinSlot.release()
        logger.info("connected", metadata: ["user": "\(user)", "role": "\(role)"])
        queue.yield(YWebSocketMessage.syncStep1(stateVector: serverVector).encoded())
        let connection = YWebSocketConnection(id: id, documentID: documentID, userID: user, role: role, room: room, logger: logger)
        let expiry = await verifier.expiry(of: token)
        // Revocation and expiry come from the live-connection sweep, which
        // cancels the reader: no timer or listener task per connection.
        let ender = ConnectionEnder()
        await live.add(id, .init(userID: user, workspaces: { [workspace] }, deadline: expiry, end: { ending in
            switch ending {
            case .revoked(let lost): ender.end(ConnectionClosed(code: CloseCode.forbidden, reason: "membership of \(lost) revoked"))
            case .deadlinePassed: ender.end(ConnectionClosed(code: CloseCode.unauthenticated, reason: "token expired"))
            }
        }))
        var closeReason: (UInt16, String)?
        async let drained: Void = outbound.drain(stream, countingIn: metrics)
        let reader = Task {
            var violations = 0
            var rate = RateWindow(limit: config.updatesPerSecond)
            for try await message in inbound.messages(maxSize: 2 * config.maxMessageBytes) {
                guard case .binary(let buffer) = message else {
                    violations += 1
                    continue
                }
                metrics.bytesIn.increment(by: Int64(buffer.readableBytes))
                if buffer.readableBytes > config.maxMessageBytes {
                    // y-websocket has no error message: refuse like a flood.
                    violations += 1
                } else if !rate.admit() {
                    violations += 1
                } else {
                    let (replies, violation) = await connection.handle(Array(buffer: buffer))
                    for r in replies { queue.yield(r.encoded()) }
                    violations = violation ? violations + 1 : 0
                }
                if violations >= config.maxViolations {
                    throw ConnectionClosed(code: CloseCode.flooding, reason: "too many refused messages")
                }
            }
            throw ConnectionClosed(code: 1000, reason: "")
        }
        if let closed = await ender.run(reader, logger: logger) { closeReason = (closed.code, closed.reason) }
        queue.finish()
        await drained
        await live.remove(id)
        await registry.leave(documentID, connection: id)
        if let (code, reason) = closeReason, code != 1000 {
            logger.info("closing", metadata: ["code": "\(code)", "reason": "\(reason)"])
            try? await outbound.close(.unknown(code), reason: reason)
        }
        logger.info("disconnected")
    }
}
