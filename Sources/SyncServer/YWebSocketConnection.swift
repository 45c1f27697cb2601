import Prometheus
import Foundation
import Logging
import Model
import NIOCore
import SyncProtocol

/// One stock Yjs peer on `/v1/yjs/{documentID}`: the y-websocket protocol
/// (`yjs-format.md` section 8) for one document, with the server's rules —
/// updates are validated before they reach anyone else and committed to the
/// store, viewers' updates are refused with an auth message, malformed
/// messages are answered and counted.
///
/// `@unchecked Sendable`: its mutable state is touched only by the calls of
/// its ``InboundPump``, which never overlap and hand over through a lock.
final class YWebSocketSession: PeerSession, @unchecked Sendable {
    private let server: ServerContext
    private let id: ConnectionID
    private let documentID: String
    /// Dropped once checked: a JWT is a few hundred bytes an idle connection need not keep.
    private var token: String?
    /// Made when something is logged: a logger with metadata kept per connection costs ~0.5 KB of an idle connection.
    private var logger: Logger {
        var logger = server.logger
        logger[metadataKey: "connection"] = "\(id)"
        logger[metadataKey: "document"] = "\(documentID)"
        return logger
    }
    private var joined: (room: DocumentRoom, user: String, role: Role)?
    private var violations = 0
    private var rate: RateWindow

    init(server: ServerContext, id: ConnectionID, documentID: String, token: String?) {
        self.server = server
        self.id = id
        self.documentID = documentID
        self.token = token
        rate = RateWindow(limit: server.config.updatesPerSecond)
    }

    /// Checks the token and membership (holding a join slot), subscribes,
    /// and sends the room's state vector. Refusals come after the upgrade so
    /// that the peer sees a close code and reason.
    func start(_ peer: WebSocketPeer) async -> ConnectionClosed? {
        guard let document = try? DocumentName(parsing: documentID) else { return ConnectionClosed(code: CloseCode.badMessage, reason: "unknown document id") }
        let slot: JoinSlot
        do { slot = try await server.gate.slot() } catch {
            if error == .busy { logger.info("join refused: server busy") }
            return ConnectionClosed(code: CloseCode.tryAgainLater, reason: "server busy, retry later")
        }
        defer { slot.release() }
        let user: String, expiry: Date
        let presented = token
        token = nil
        switch await server.verifier.identity(of: presented) {
        case .success(let identity): (user, expiry) = (identity.user, identity.expiry)
        case .failure(let problem):
            logger.info("token refused", metadata: ["problem": "\(problem)"])
            return ConnectionClosed(code: CloseCode.unauthenticated, reason: problem == .expired ? "token expired" : "invalid token")
        }
        let workspace = document.workspace
        let role: Role
        do {
            guard let m = try await server.memberships.memberships(of: user).first(where: { $0.workspaceID == workspace }) else {
                return ConnectionClosed(code: CloseCode.forbidden, reason: "not a member of \(workspace)")
            }
            role = m.role
        } catch {
            return ConnectionClosed(code: CloseCode.internalError, reason: "store unavailable")
        }
        let room = await server.registry.room(documentID)
        let serverVector: [UInt8]
        do {
            serverVector = try await room.subscribe(id) { event in
                switch event {
                case .update(let u, let version): peer.send(frame: room.fanout.buffer(.yjs, version: version) { YWebSocketMessage.update(u).encoded() })
                case .awareness(let a): peer.send(YWebSocketMessage.awareness(a).encoded())
                }
            }
        } catch {
            logger.error("cannot load document", metadata: ["error": "\(error)"])
            return ConnectionClosed(code: CloseCode.internalError, reason: "document unavailable")
        }
        joined = (room, user, role)
        server.metrics.yjsConnections.increment()
        slot.release()
        // Checked first: making the connection's logger for a message that is not logged showed in join storms.
        if server.logger.logLevel <= .info { logger.info("connected", metadata: ["user": "\(user)", "role": "\(role)"]) }
        peer.send(YWebSocketMessage.syncStep1(stateVector: serverVector).encoded())
        // Revocation and expiry come from the live-connection sweep: no timer per connection.
        await server.live.add(id, .init(userID: user, workspaces: { [workspace] }, deadline: expiry, end: { ending in
            switch ending {
            case .revoked(let lost): peer.close(ConnectionClosed(code: CloseCode.forbidden, reason: "membership of \(lost) revoked"))
            case .deadlinePassed: peer.close(ConnectionClosed(code: CloseCode.unauthenticated, reason: "token expired"))
            }
        }))
        return nil
    }

    func handle(_ message: PeerMessage, _ peer: WebSocketPeer) async -> ConnectionClosed? {
        guard let joined else { return nil }
        guard case .binary(let buffer) = message else { return violation() }
        server.metrics.bytesIn.increment(by: Int64(buffer.readableBytes))
        // y-websocket has no error message: oversized and over-rate messages are refused like a flood.
        guard buffer.readableBytes <= server.config.maxMessageBytes, rate.admit() else { return violation() }
        let decoded: YWebSocketMessage
        do { decoded = try YWebSocketMessage(decoding: Array(buffer: buffer)) } catch {
            logger.info("bad message", metadata: ["error": "\(error)"])
            return violation()
        }
        switch decoded {
        case .syncStep1(let sv):
            do {
                peer.send(frame: try await joined.room.syncStep2Frame(for: sv, .yjs) { ServerFrame.binary(YWebSocketMessage.syncStep2(update: $0).encoded()) })
            } catch {
                logger.error("load failed", metadata: ["error": "\(error)"])
                return storeUnavailable
            }
        case .syncStep2(let update), .update(let update):
            if case .refused(let code, let text) = await joined.room.apply(update, from: id, userID: joined.user, role: joined.role) {
                logger.info("update refused", metadata: ["code": "\(code)", "reason": "\(text)"])
                if code == .storeUnavailable { return storeUnavailable }
                if code == .readOnly { peer.send(YWebSocketMessage.authPermissionDenied(reason: "read-only document").encoded()) }
                return violation()
            }
        case .awareness(let a):
            await joined.room.relayAwareness(a, from: id)
        case .queryAwareness, .authPermissionDenied:
            break
        }
        violations = 0
        return nil
    }

    /// The store failed this peer's update or load. y-websocket has no
    /// refusal a peer acts on and no resend, so the connection is closed: the
    /// provider reconnects, and its answer to the server's sync step 1 then
    /// carries every update the server lacks. Not the peer's fault, so not a violation.
    private var storeUnavailable: ConnectionClosed {
        ConnectionClosed(code: CloseCode.tryAgainLater, reason: "store unavailable, reconnect")
    }

    private func violation() -> ConnectionClosed? {
        violations += 1
        guard violations >= server.config.maxViolations else { return nil }
        logger.info("closing: too many refused messages")
        return ConnectionClosed(code: CloseCode.flooding, reason: "too many refused messages")
    }

    func finish() async {
        await server.live.remove(id)
        guard joined != nil else { return }
        await server.registry.leave(documentID, connection: id)
        server.metrics.yjsConnections.decrement()
        if server.logger.logLevel <= .info { logger.info("disconnected") }
    }
}
