import Prometheus
import Foundation
import Hummingbird
import HummingbirdCore
import NIOHTTP1
public import Logging
import NIOCore
import PostgresNIO
import Synchronization
import SyncProtocol
import ServiceLifecycle
import UnixSignals

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
        let jobs = config.runJobs ? try JobServices(config: config, store: store, metrics: metrics, logger: logger) : nil
        let registry = RoomRegistry(store: store, metrics: metrics, compactionMinimumBytes: config.compactionMinimumBytes,
                                    onCommit: { [projector = jobs?.projector, relay = jobs?.relay] id, seq, user in
                                        projector?.committed(documentID: id, seq: seq)
                                        relay?.committed(documentID: id, userID: user)
                                    })
        jobs?.start(registry: registry)
        let live = LiveConnections()
        let gate = JoinGate(limit: config.maxConcurrentJoins, queueLimit: config.joinQueueLimit, metrics: metrics)
        let server = ServerContext(
            config: config, store: store, registry: registry, verifier: verifier, live: live, gate: gate, metrics: metrics,
            liveDevices: jobs?.liveDevices ?? LiveDevices(), logger: logger)
        let peers = PeerDirectory()

        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        if let push = store as? any PushStore { DeviceRoutes.add(to: router, store: push, verifier: verifier) }
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

        let endpoints = HTTPServerBuilder { responder in
            SyncChildChannel(
                responder: responder,
                // Messages up to twice the limit are read so that an oversized one is answered with
                // message_too_large (PROTOCOL.md section 2); larger ones end the connection (1009).
                maxMessageBytes: 2 * config.maxMessageBytes,
                route: { head, id in session(for: head, id: id, server: server) },
                accepts: { head in isSyncEndpoint(head.uri) },
                peers: peers, metrics: metrics)
        }
        let app = Application(
            router: router,
            server: endpoints,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "nest-server", backlog: config.listenBacklog),
            onServerRunning: { channel in
                // NIO accepts 4 connections per wake-up by default: in a reconnect storm the rest wait in the
                // accept queue while the loops are busy.
                try? await channel.setOption(ChannelOptions.maxMessagesPerRead, value: UInt(config.acceptsPerWakeup)).get()
                onListening(channel.localAddress?.port ?? config.port)
            },
            logger: logger
        )
        // Every long-running part is a service of one group: the background loops (membership changes applied to live
        // connections within a second, idle documents unloaded and the heap trimmed, keepalive pings), the job
        // engine's services (projector, relay, workers, notification listener) and the HTTP server. On SIGTERM or
        // SIGINT the group shuts them down gracefully in reverse order: the server first (no new connections, open
        // ones closed with 1001), then the job services (no new claims; running attempts finish), then the loops.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: PeriodicService("membership watch", every: .milliseconds(500)) { await live.check(store, logger: logger) }),
            .init(service: PeriodicService("room sweep and heap trim", every: .seconds(2)) {
                let r = await registry.sweep(idleAfter: .seconds(config.roomIdleSeconds), memoryBudget: config.memoryBudgetBytes)
                if r.removedIdle + r.unloadedForBudget > 0 {
                    logger.debug("rooms unloaded", metadata: ["idle": "\(r.removedIdle)", "budget": "\(r.unloadedForBudget)", "resident_bytes": "\(r.residentBytes)"])
                }
                HeapTrim.returnFreePages()
            }),
            .init(service: PeriodicService("keepalive pings", every: .seconds(config.keepaliveSeconds)) { peers.keepalive() }),
        ]
        services += (jobs?.services ?? []).map { .init(service: $0) }
        services.append(.init(service: app))
        var groupConfig = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Bounded: running job attempts get this long to finish before they are cancelled (their leases then return them).
        groupConfig.maximumGracefulShutdownDuration = .seconds(15)
        let outcome: Result<Void, any Error>
        do {
            try await ServiceGroup(configuration: groupConfig).run()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        // Connections still open (the server stopped otherwise than by a graceful shutdown): their in-flight commits finish first.
        await peers.closeAll(ConnectionClosed(code: CloseCode.goingAway, reason: "server shutting down"), timeout: .seconds(10))
        await jobs?.shutdown()
        try outcome.get()
    }


    /// A request target's path and query parameters (decoded). Split on the
    /// UTF-8 bytes: splitting by characters walked grapheme boundaries through
    /// the whole token, a visible part of a connection's set-up.
    static func splitQuery(_ s: String) -> (String, [String: String]) {
        let bytes = s.utf8
        guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (s, [:]) }
        var out: [String: String] = [:]
        for pair in bytes[bytes.index(after: q)...].split(separator: UInt8(ascii: "&")) {
            guard let eq = pair.firstIndex(of: UInt8(ascii: "=")) else {
                out[String(Substring(pair))] = ""
                continue
            }
            let value = Substring(pair[pair.index(after: eq)...])
            out[String(Substring(pair[..<eq]))] = percentDecoded(value) ?? String(value)
        }
        return (String(Substring(bytes[..<q])), out)
    }

    /// `text` with its `%XX` escapes decoded; nil when an escape is malformed
    /// or the result is not UTF-8, as Foundation's `removingPercentEncoding`,
    /// without its cost, which a reconnect storm pays once per connection.
    static func percentDecoded(_ text: some StringProtocol) -> String? {
        let percent = UInt8(ascii: "%")
        guard text.utf8.contains(percent) else { return String(text) }
        func hex(_ c: UInt8?) -> UInt8? {
            switch c {
            case .some(let c) where c >= 0x30 && c <= 0x39: c - 0x30
            case .some(let c) where c >= 0x41 && c <= 0x46: c - 0x41 + 10
            case .some(let c) where c >= 0x61 && c <= 0x66: c - 0x61 + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let b = it.next() {
            guard b == percent else {
                bytes.append(b)
                continue
            }
            guard let high = hex(it.next()), let low = hex(it.next()) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The sync endpoint a request path names.
    enum Endpoint: Equatable {
        case nest
        case yjs(documentID: String, token: String?)
    }

    /// Whether a request path is a sync endpoint: a prefix test, cheap enough
    /// to decide the upgrade before ``endpoint(of:)`` parses the path once.
    static func isSyncEndpoint(_ uri: String) -> Bool {
        uri == "/v1/sync" || uri.hasPrefix("/v1/sync?") || uri.hasPrefix("/v1/yjs/")
    }

    static func endpoint(of uri: String) -> Endpoint? {
        guard isSyncEndpoint(uri) else { return nil }
        guard uri.hasPrefix("/v1/yjs/") else { return .nest }
        let (rawDoc, query) = splitQuery(String(uri.dropFirst("/v1/yjs/".count)))
        return .yjs(documentID: percentDecoded(rawDoc) ?? rawDoc, token: query["token"])
    }

    /// The session for an upgrade request; the token comes from the query
    /// (y-websocket) or the `Authorization` header.
    static func session(for head: HTTPRequestHead, id: ConnectionID, server: ServerContext) -> (any PeerSession)? {
        let auth = head.headers.first(name: "authorization")
        let bearer = auth.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        switch endpoint(of: head.uri) {
        case .nest: return NestSyncSession(server: server, id: id, bearer: bearer)
        case .yjs(let documentID, let token): return YWebSocketSession(server: server, id: id, documentID: documentID, token: token ?? bearer)
        case nil: return nil
        }
    }
}
