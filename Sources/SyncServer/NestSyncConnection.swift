import Prometheus
import Foundation
import Logging
import NIOCore
import HummingbirdWebSocket
import NIOWebSocket
import Synchronization
import SyncProtocol

/// One device on `/v1/sync` speaking the Nest protocol (Protocol/PROTOCOL.md):
/// hello/welcome, subscriptions over one connection, durable acks, catalog.
/// The connection's outgoing messages: encoded for the writer, errors and
/// refusals counted by code on the way.
struct MessageQueue: Sendable {
    let bytes: AsyncStream<[UInt8]>.Continuation
    let metrics: ServerMetrics

    func yield(_ message: NestMessage) {
        metrics.sent(message)
        bytes.yield(message.encoded())
    }

    func finish() { bytes.finish() }
}

struct NestSyncConnection {
    let id: ConnectionID
    let bearer: String?
    let registry: RoomRegistry
    let store: any DocumentStore
    let verifier: TokenVerifier
    let config: ServerConfiguration
    let live: LiveConnections
    let gate: JoinGate
    let metrics: ServerMetrics
    let logger: Logger

    /// What the reader learned at hello (the token's expiry is kept by ``LiveConnections``).
    struct Session: Sendable {
        var userID: String
        var roles: [String: Role]
    }

    final class Shared: Sendable {
        let session = Mutex<Session?>(nil)
        /// The reader's subscriptions, published when it ends for cleanup.
        let subscriptions = Mutex<Set<String>>([])
        let opened = Date()
    }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let (stream, bytesQueue) = AsyncStream<[UInt8]>.makeStream()
        let metrics = self.metrics
        let queue = MessageQueue(bytes: bytesQueue, metrics: metrics)
        let shared = Shared()
        // Hello deadline, token expiry and membership revocation all come from
        // the one live-connection sweep, which cancels the reader: no timer or
        // listener task per connection.
        let ender = ConnectionEnder()
        let end: @Sendable (LiveConnections.Ending) -> Void = { ending in
            switch ending {
            case .revoked(let lost):
                queue.yield(NestMessage.error(code: .membershipRevoked, text: "membership of \(lost) revoked", documentID: ""))
                ender.end(ConnectionClosed(code: CloseCode.forbidden, reason: "membership revoked"))
            case .deadlinePassed where shared.session.withLock({ $0 }) == nil:
                queue.yield(NestMessage.error(code: .badMessage, text: "no hello within 10 seconds", documentID: ""))
                ender.end(ConnectionClosed(code: CloseCode.badMessage, reason: "no hello"))
            case .deadlinePassed:
                queue.yield(NestMessage.error(code: .tokenExpired, text: "token expired", documentID: ""))
                ender.end(ConnectionClosed(code: CloseCode.unauthenticated, reason: "token expired"))
            }
        }
        await live.add(id, .init(userID: nil, workspaces: { [] }, deadline: shared.opened.addingTimeInterval(10), end: end))
        async let drained: Void = outbound.drain(stream, countingIn: metrics)
        let reader = Task {
            var violations = 0
            var subscribed = Set<String>()
            var rate = RateWindow(limit: config.updatesPerSecond)
            defer { shared.subscriptions.withLock { $0 = subscribed } }
            for try await frame in inbound.messages(maxSize: 2 * config.maxMessageBytes) {
                guard case .binary(let buffer) = frame else {
                    queue.yield(NestMessage.error(code: .badMessage, text: "text frames are not part of the protocol", documentID: ""))
                    violations += 1
                    if violations >= config.maxViolations { throw ConnectionClosed(code: CloseCode.flooding, reason: "too many bad messages") }
                    continue
                }
                metrics.bytesIn.increment(by: Int64(buffer.readableBytes))
                let message: NestMessage
                do { message = try NestMessage(decoding: Array(buffer: buffer)) } catch {
                    queue.yield(NestMessage.error(code: .badMessage, text: (error as? SyncProtocolError)?.message ?? "\(error)", documentID: ""))
                    violations += 1
                    if violations >= config.maxViolations { throw ConnectionClosed(code: CloseCode.flooding, reason: "too many bad messages") }
                    continue
                }
                if buffer.readableBytes > config.maxMessageBytes {
                    let text = "message of \(buffer.readableBytes) bytes; the limit is \(config.maxMessageBytes)"
                    if case .update(let doc, let seq, _) = message {
                        queue.yield(NestMessage.refused(documentID: doc, clientSeq: seq, code: .messageTooLarge, text: text))
                    } else {
                        queue.yield(NestMessage.error(code: .messageTooLarge, text: text, documentID: message.documentID ?? ""))
                    }
                    violations += 1
                    if violations >= config.maxViolations { throw ConnectionClosed(code: CloseCode.flooding, reason: "too many oversized messages") }
                    continue
                }
                if case .update(let doc, let seq, _) = message {
                    if !rate.admit() {
                        queue.yield(NestMessage.refused(documentID: doc, clientSeq: seq, code: .rateLimited, text: "more than \(config.updatesPerSecond) updates per second"))
                        violations += 1
                        if violations >= config.maxViolations { throw ConnectionClosed(code: CloseCode.flooding, reason: "flooding") }
                        continue
                    }
                }
                let ok = try await handle(message, shared: shared, subscribed: &subscribed, end: end) { queue.yield($0) } events: { doc, event in
                    switch event {
                    case .update(let u, let seq): queue.yield(NestMessage.broadcast(documentID: doc, serverSeq: seq, update: u))
                    case .awareness(let a): queue.yield(NestMessage.awareness(documentID: doc, update: a))
                    }
                }
                violations = ok ? 0 : violations + 1
                if violations >= config.maxViolations { throw ConnectionClosed(code: CloseCode.flooding, reason: "too many refused messages") }
            }
            throw ConnectionClosed(code: 1000, reason: "")
        }
        let closing = await ender.run(reader, logger: logger)
        queue.finish()
        await drained
        await live.remove(id)
        for doc in shared.subscriptions.withLock({ $0 }) { await registry.leave(doc, connection: id) }
        if let c = closing, c.code != 1000 {
            try? await outbound.close(.unknown(c.code), reason: c.reason)
        }
    }

    /// Handles one message; returns false when it was refused (a violation).
    func handle(
        _ message: NestMessage, shared: Shared, subscribed: inout Set<String>, end: @escaping @Sendable (LiveConnections.Ending) -> Void,
        reply: @escaping @Sendable (NestMessage) -> Void, events: @escaping @Sendable (String, RoomEvent) -> Void
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
            // Admission control: checking the token and memberships takes a join slot.
            let slot: JoinSlot
            do { slot = try await gate.slot() } catch {
                if error == .busy { logger.info("join refused: server busy") }
                reply(.error(code: .overloaded, text: "the server is busy setting up other connections; reconnect in a few seconds", documentID: ""))
                throw ConnectionClosed(code: CloseCode.tryAgainLater, reason: "server busy, retry later")
            }
            defer { slot.release() }
            let presented = token.isEmpty ? bearer : token
            switch await verifier.user(for: presented) {
            case .failure(let problem):
                reply(.error(code: problem == .expired ? .tokenExpired : .unauthenticated, text: "token \(problem)", documentID: ""))
                throw ConnectionClosed(code: CloseCode.unauthenticated, reason: "token \(problem)")
            case .success(let user):
                let memberships: [WorkspaceMembership]
                do { memberships = try await store.memberships(userID: user) } catch {
                    reply(.error(code: .storeUnavailable, text: "store unavailable", documentID: ""))
                    throw ConnectionClosed(code: 1011, reason: "store unavailable")
                }
                let expiry = await verifier.expiry(of: presented ?? "")
                let granted = Set(memberships.map(\.workspaceID))
                await live.add(id, .init(userID: user, workspaces: { granted }, deadline: expiry, end: end))
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
            guard let doc = DocumentID(documentID) else { return .denied(.unknownDocument) }
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
                    let (step2, sv) = try await room.subscribe(id, stateVector: d.stateVector) { events(docID, $0) }
                    subscribed.insert(d.documentID)
                    reply(.syncStep2(documentID: d.documentID, update: step2))
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
            do { reply(.syncStep2(documentID: doc, update: try await registry.room(doc).syncStep2(for: sv))) } catch {
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
            switch await verifier.user(for: token) {
            case .success(let user) where user == session.userID:
                await live.renew(id, deadline: await verifier.expiry(of: token))
                return true
            default:
                reply(.error(code: .unauthenticated, text: "reauth refused", documentID: ""))
                throw ConnectionClosed(code: CloseCode.unauthenticated, reason: "reauth refused")
            }
        case .welcome, .ack, .refused, .broadcast, .error, .catalog, .event:
            reply(.error(code: .badMessage, text: "server-to-client message", documentID: ""))
            return false
        }
    }
}
