import Prometheus
import Foundation
import Logging
import Model
import NIOCore
import Synchronization
import SyncProtocol

/// One device on `/v1/sync` speaking the Nest protocol (Protocol/PROTOCOL.md):
/// hello/welcome, subscriptions over one connection, durable acks, catalog.
///
/// `@unchecked Sendable`: its mutable state is touched only by the calls of
/// its ``InboundPump``, which never overlap and hand over through a lock.
final class NestSyncSession: PeerSession, @unchecked Sendable {
    private let connection: NestSyncConnection
    private let shared = NestSyncConnection.Shared()
    private var subscribed = Set<String>()
    private var violations = 0
    private var rate: RateWindow
    private var end: @Sendable (LiveConnections.Ending) -> Void = { _ in }

    init(server: ServerContext, id: ConnectionID, bearer: String?) {
        connection = NestSyncConnection(id: id, bearer: bearer, server: server)
        rate = RateWindow(limit: server.config.updatesPerSecond)
    }

    private var server: ServerContext { connection.server }

    /// Sends one message, counting errors and refusals by code.
    private static func send(_ message: NestMessage, to peer: WebSocketPeer, metrics: ServerMetrics) {
        metrics.sent(message)
        peer.send(message.encoded())
    }

    func start(_ peer: WebSocketPeer) async -> ConnectionClosed? {
        let metrics = server.metrics, shared = self.shared, connection = self.connection
        let helloTimeout = server.config.helloTimeoutSeconds
        metrics.nestConnections.increment()
        // Hello deadline, token expiry and membership revocation all come from
        // the one live-connection sweep: no timer or listener per connection.
        end = { ending in
            let (message, closed): (NestMessage, ConnectionClosed)
            switch ending {
            case .revoked(let lost):
                message = .error(code: .membershipRevoked, text: "membership of \(lost) revoked", documentID: "")
                closed = ConnectionClosed(code: CloseCode.forbidden, reason: "membership revoked")
            case .deadlinePassed where shared.session.withLock({ $0 }) == nil:
                // Logged either way: a hello that never arrives and one stuck in handling look alike to the client.
                if let progress = shared.helloProgress.withLock({ $0 }) {
                    connection.logger.warning("hello deadline passed while its hello was being handled", metadata: [
                        "step": "\(progress.step)", "hello_after_open": "\(progress.arrived.timeIntervalSince(shared.opened))",
                    ])
                } else {
                    connection.logger.warning("no hello within \(helloTimeout) seconds of the upgrade: closing", metadata: ["pump": "\(peer.pump?.progress ?? "none")"])
                }
                message = .error(code: .badMessage, text: "no hello within \(helloTimeout) seconds", documentID: "")
                closed = ConnectionClosed(code: CloseCode.badMessage, reason: "no hello")
            case .deadlinePassed:
                message = .error(code: .tokenExpired, text: "token expired", documentID: "")
                closed = ConnectionClosed(code: CloseCode.unauthenticated, reason: "token expired")
            }
            Self.send(message, to: peer, metrics: metrics)
            peer.close(closed)
        }
        let registering = Date()
        await server.live.add(connection.id, .init(userID: nil, workspaces: { [] }, deadline: shared.opened.addingTimeInterval(TimeInterval(helloTimeout)), end: end))
        if Date().timeIntervalSince(registering) > 2 {
            connection.logger.warning("slow start: registering the connection took \(Date().timeIntervalSince(registering)) s")
        }
        return nil
    }

    func handle(_ received: PeerMessage, _ peer: WebSocketPeer) async -> ConnectionClosed? {
        let metrics = server.metrics, config = server.config
        let reply: @Sendable (NestMessage) -> Void = { Self.send($0, to: peer, metrics: metrics) }
        guard case .binary(let buffer) = received else {
            reply(.error(code: .badMessage, text: "text frames are not part of the protocol", documentID: ""))
            return violation("too many bad messages")
        }
        metrics.bytesIn.increment(by: Int64(buffer.readableBytes))
        let message: NestMessage
        do { message = try NestMessage(decoding: Array(buffer: buffer)) } catch {
            reply(.error(code: .badMessage, text: error.message, documentID: ""))
            return violation("too many bad messages")
        }
        if buffer.readableBytes > config.maxMessageBytes {
            let text = "message of \(buffer.readableBytes) bytes; the limit is \(config.maxMessageBytes)"
            if case .update(let doc, let seq, _) = message {
                reply(.refused(documentID: doc, clientSeq: seq, code: .messageTooLarge, text: text))
            } else {
                reply(.error(code: .messageTooLarge, text: text, documentID: message.documentID ?? ""))
            }
            return violation("too many oversized messages")
        }
        if case .update(let doc, let seq, _) = message, !rate.admit() {
            reply(.refused(documentID: doc, clientSeq: seq, code: .rateLimited, text: "more than \(config.updatesPerSecond) updates per second"))
            return violation("flooding")
        }
        do {
            let ok = try await connection.handle(
                message, shared: shared, subscribed: &subscribed, end: end, reply: reply, replyFrame: { peer.send(frame: $0) }
            ) { room, doc, event in
                switch event {
                case .update(let u, let version):
                    // serverSeq 0: relayed before its commit, its position is not known yet (PROTOCOL.md 4.2).
                    peer.send(frame: room.fanout.buffer(.nest, version: version) { NestMessage.broadcast(documentID: doc, serverSeq: 0, update: u).encoded() })
                case .awareness(let a): reply(.awareness(documentID: doc, update: a))
                }
            }
            if ok {
                violations = 0
                return nil
            }
            return violation("too many refused messages")
        } catch let closed as ConnectionClosed {
            return closed
        } catch {
            connection.logger.error("message failed", metadata: ["error": "\(error)"])
            return ConnectionClosed(code: CloseCode.internalError, reason: "internal error")
        }
    }

    private func violation(_ reason: String) -> ConnectionClosed? {
        violations += 1
        guard violations >= server.config.maxViolations else { return nil }
        connection.logger.info("closing", metadata: ["reason": "\(reason)"])
        return ConnectionClosed(code: CloseCode.flooding, reason: reason)
    }

    func finish() async {
        await server.live.remove(connection.id)
        server.liveDevices.detach(connection: connection.id)
        for doc in subscribed { await server.registry.leave(doc, connection: connection.id) }
        server.metrics.nestConnections.decrement()
    }
}

/// The Nest protocol's message handling for one connection.
struct NestSyncConnection: Sendable {
    let id: ConnectionID
    let bearer: String?
    let server: ServerContext
    /// Made when something is logged: a logger with metadata kept per connection costs ~0.5 KB of an idle connection.
    var logger: Logger {
        var logger = server.logger
        logger[metadataKey: "connection"] = "\(id)"
        return logger
    }

    private var registry: RoomRegistry { server.registry }
    private var store: any DocumentStore { server.store }
    private var verifier: TokenVerifier { server.verifier }
    private var config: ServerConfiguration { server.config }
    private var live: LiveConnections { server.live }
    private var gate: JoinGate { server.gate }
    private var metrics: ServerMetrics { server.metrics }

    /// What the connection learned at hello (the token's expiry is kept by ``LiveConnections``).
    struct Session: Sendable {
        var userID: String
        var roles: [String: Role]
    }

    final class Shared: Sendable {
        let session = Mutex<Session?>(nil)
        let opened = Date()
        /// Where the hello's handling is, for the log when it ends late: the
        /// step it is in (or finished) and when the hello arrived.
        let helloProgress = Mutex<(step: String, arrived: Date)?>(nil)
    }

    /// Sync step 2 of `documentID` as a whole frame (shared by joiners with nothing: see ``DocumentRoom/syncStep2Frame(for:_:frame:)``).
    static func syncStep2Frame(_ documentID: String, _ update: [UInt8]) -> ByteBuffer {
        ServerFrame.binary(NestMessage.syncStep2(documentID: documentID, update: update).encoded())
    }

    /// Handles one message; returns false when it was refused (a violation).
    func handle(
        _ message: NestMessage, shared: Shared, subscribed: inout Set<String>, end: @escaping @Sendable (LiveConnections.Ending) -> Void,
        reply: @escaping @Sendable (NestMessage) -> Void, replyFrame: @escaping @Sendable (ByteBuffer) -> Void,
        events: @escaping @Sendable (DocumentRoom, String, RoomEvent) -> Void
    ) async throws -> Bool {
        guard let session = shared.session.withLock({ $0 }) else {
            guard case .hello(let minV, let maxV, _, let token) = message else {
                reply(.error(code: .badMessage, text: "the first message must be hello", documentID: ""))
                throw ConnectionClosed(code: CloseCode.badMessage, reason: "no hello")
            }
            guard minV <= NestMessage.version, NestMessage.version <= maxV else {
                reply(.error(code: .unsupportedVersion, text: "this server speaks version \(NestMessage.version) only", documentID: ""))
                throw ConnectionClosed(code: CloseCode.unsupportedVersion, reason: "unsupported version")
            }
            let arrived = Date()
            func step(_ name: String) { shared.helloProgress.withLock { $0 = (name, arrived) } }
            step("waiting for a join slot")
            defer {
                // A hello should take milliseconds; say where a slow one spent its time.
                let took = Date().timeIntervalSince(arrived)
                if took > 2 {
                    logger.warning("slow hello", metadata: [
                        "seconds": "\(took)", "last_step": "\(shared.helloProgress.withLock { $0?.step } ?? "")",
                        "after_open": "\(arrived.timeIntervalSince(shared.opened))",
                    ])
                }
            }
            // Admission control: checking the token and memberships takes a join slot.
            let slot: JoinSlot
            do { slot = try await gate.slot() } catch {
                if error == .busy { logger.info("join refused: server busy") }
                reply(.error(code: .overloaded, text: "the server is busy setting up other connections; reconnect in a few seconds", documentID: ""))
                throw ConnectionClosed(code: CloseCode.tryAgainLater, reason: "server busy, retry later")
            }
            defer { slot.release() }
            let presented = token.isEmpty ? bearer : token
            step("checking the token")
            switch await verifier.identity(of: presented) {
            case .failure(let problem):
                reply(.error(code: problem == .expired ? .tokenExpired : .unauthenticated, text: "token \(problem)", documentID: ""))
                throw ConnectionClosed(code: CloseCode.unauthenticated, reason: "token \(problem)")
            case .success(let identity):
                let user = identity.user
                let memberships: [WorkspaceMembership]
                step("reading memberships")
                do { memberships = try await server.memberships.memberships(of: user) } catch {
                    logger.warning("hello: cannot read memberships", metadata: ["user": "\(user)", "error": "\(error)"])
                    reply(.error(code: .storeUnavailable, text: "store unavailable", documentID: ""))
                    throw ConnectionClosed(code: CloseCode.internalError, reason: "store unavailable")
                }
                let expiry = identity.expiry
                let granted = Set(memberships.map(\.workspaceID))
                step("registering the connection")
                await live.add(id, .init(userID: user, workspaces: { granted }, deadline: expiry, end: end))
                step("welcomed")
                shared.session.withLock {
                    $0 = Session(userID: user, roles: Dictionary(memberships.map { ($0.workspaceID, $0.role) }, uniquingKeysWith: { a, _ in a }))
                }
                reply(.welcome(
                    version: NestMessage.version, userID: user, workspaces: memberships,
                    limits: ConnectionLimits(maxMessageBytes: config.maxMessageBytes, maxDocuments: config.maxDocumentsPerConnection, updatesPerSecond: config.updatesPerSecond),
                    sessionID: String(id)))
                return true
            }
        }

        /// The caller's role for a document, or the error to send.
        enum Access {
            case granted(Role)
            case denied(ErrorCode)
        }
        func access(_ documentID: String) -> Access {
            guard let doc = try? DocumentName(parsing: documentID) else { return .denied(.unknownDocument) }
            guard let role = session.roles[doc.workspace] else { return .denied(.forbidden) }
            return .granted(role)
        }

        switch message {
        case .hello:
            reply(.error(code: .badMessage, text: "hello was already received", documentID: ""))
            return false
        case .subscribe(let docs):
            var ok = true
            for d in docs {
                if case .denied(let code) = access(d.documentID) {
                    reply(.error(code: code, text: "cannot subscribe", documentID: d.documentID))
                    ok = false
                    continue
                }
                guard subscribed.contains(d.documentID) || subscribed.count < config.maxDocumentsPerConnection else {
                    reply(.error(code: .tooManyDocuments, text: "at most \(config.maxDocumentsPerConnection) documents", documentID: d.documentID))
                    ok = false
                    continue
                }
                let room = await registry.room(d.documentID)
                let docID = d.documentID
                do {
                    let (step2, sv) = try await room.subscribe(id, stateVector: d.stateVector, .nest, frame: { Self.syncStep2Frame(docID, $0) }) {
                        events(room, docID, $0)
                    }
                    subscribed.insert(d.documentID)
                    replyFrame(step2)
                    reply(.syncStep1(documentID: d.documentID, stateVector: sv))
                } catch {
                    logger.error("load failed", metadata: ["document": "\(d.documentID)", "error": "\(error)"])
                    reply(.error(code: .storeUnavailable, text: "document unavailable", documentID: d.documentID))
                    ok = false
                }
            }
            return ok
        case .unsubscribe(let ids):
            for d in ids where subscribed.remove(d) != nil { await registry.leave(d, connection: id) }
            return true
        case .syncStep1(let doc, let sv):
            guard subscribed.contains(doc) else {
                reply(.error(code: .badMessage, text: "not subscribed", documentID: doc))
                return false
            }
            do { replyFrame(try await registry.room(doc).syncStep2Frame(for: sv, .nest) { Self.syncStep2Frame(doc, $0) }) } catch {
                reply(.error(code: .storeUnavailable, text: "document unavailable", documentID: doc))
                return false
            }
            return true
        case .syncStep2(let doc, let update):
            guard subscribed.contains(doc), case .granted(let role) = access(doc) else {
                reply(.error(code: .badMessage, text: "not subscribed", documentID: doc))
                return false
            }
            if case .refused(let code, let text) = await registry.room(doc).apply(update, from: id, userID: session.userID, role: role) {
                reply(.error(code: code, text: text, documentID: doc))
                return false
            }
            return true
        case .update(let doc, let seq, let update):
            let received = ContinuousClock.now
            let role: Role
            switch access(doc) {
            case .granted(let r): role = r
            case .denied(let code):
                reply(.refused(documentID: doc, clientSeq: seq, code: code, text: "no access"))
                return false
            }
            switch await registry.room(doc).apply(update, from: id, userID: session.userID, role: role) {
            case .acked(let serverSeq):
                reply(.ack(documentID: doc, clientSeq: seq, serverSeq: serverSeq))
                metrics.ackLatency.record(ContinuousClock.now - received)
                return true
            case .refused(let code, let text):
                reply(.refused(documentID: doc, clientSeq: seq, code: code, text: text))
                return false
            }
        case .awareness(let doc, let update):
            guard subscribed.contains(doc) else { return false }
            await registry.room(doc).relayAwareness(update, from: id)
            return true
        case .catalogRequest(let cursor):
            do {
                let (entries, next) = try await store.changedDocuments(since: cursor, workspaces: Array(session.roles.keys).sorted())
                reply(.catalog(cursor: next, entries: entries))
                return true
            } catch {
                reply(.error(code: .storeUnavailable, text: "catalog unavailable", documentID: ""))
                return false
            }
        case .ping(let nonce):
            reply(.pong(nonce: nonce))
            return true
        case .pong:
            return true
        case .reauth(let token):
            switch await verifier.identity(of: token) {
            case .success(let identity) where identity.user == session.userID:
                await live.renew(id, deadline: identity.expiry)
                return true
            default:
                reply(.error(code: .unauthenticated, text: "reauth refused", documentID: ""))
                throw ConnectionClosed(code: CloseCode.unauthenticated, reason: "reauth refused")
            }
        case .registerDevice(let request, let provider, let fields, let inBand):
            return await registerDevice(request, provider: provider, fields: fields, inBand: inBand, userID: session.userID, reply: reply)
        case .welcome, .ack, .refused, .broadcast, .error, .catalog, .event, .deviceRegistered, .deviceRefused:
            reply(.error(code: .badMessage, text: "server-to-client message", documentID: ""))
            return false
        }
    }
}

extension NestSyncConnection {
    /// Registers the connection's device for pushes; while the connection is
    /// open, its notifications come in-band instead (PROTOCOL.md section 4.6).
    func registerDevice(_ request: Int, provider: String, fields: [DeviceField], inBand: Bool, userID: String,
                        reply: @escaping @Sendable (NestMessage) -> Void) async -> Bool {
        guard let push = store as? any PushStore else {
            reply(.deviceRefused(requestID: request, code: .internal, text: "this server keeps no devices"))
            return false
        }
        let address: DeviceAddress
        do { address = try DeviceAddress(provider: provider, fields: fields) } catch {
            reply(.deviceRefused(requestID: request, code: .invalidDevice, text: error.description))
            return false
        }
        do {
            let device = try await push.registerDevice(userID: userID, address: address, now: epochMillis(Date()))
            if inBand { server.liveDevices.attach(device.id, connection: id, send: reply) }
            reply(.deviceRegistered(requestID: request, deviceID: device.id))
            return true
        } catch {
            logger.warning("device registration failed", metadata: ["error": "\(error)"])
            reply(.deviceRefused(requestID: request, code: .storeUnavailable, text: "store unavailable"))
            return false
        }
    }
}
