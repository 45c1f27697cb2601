import Foundation
import Logging
import NIOCore
import SyncProtocol

/// One stock Yjs peer on `/v1/yjs/{documentID}`: the y-websocket protocol
/// (`yjs-format.md` section 8) for one document, with the server's rules —
/// updates are committed before they reach anyone else, viewers' updates are
/// refused with an auth message, malformed messages are answered and counted.
struct YWebSocketConnection {
    let id: ConnectionID
    let documentID: String
    let userID: String
    let role: Role
    let room: DocumentRoom
    let logger: Logger

    /// Handles the message; returns what to send back, and whether it was a violation.
    func handle(_ bytes: [UInt8]) async -> (replies: [YWebSocketMessage], violation: Bool) {
        let message: YWebSocketMessage
        do { message = try YWebSocketMessage(decoding: bytes) } catch {
            logger.info("bad message", metadata: ["error": "\(error)"])
            return ([], true)
        }
        switch message {
        case .syncStep1(let sv):
            do { return ([.syncStep2(update: try await room.syncStep2(for: sv))], false) } catch {
                logger.error("load failed", metadata: ["error": "\(error)"])
                return ([.authPermissionDenied(reason: "document unavailable")], true)
            }
        case .syncStep2(let update), .update(let update):
            switch await room.apply(update, from: id, userID: userID, role: role) {
            case .acked:
                return ([], false)
            case .refused(let code, let text):
                logger.info("update refused", metadata: ["code": "\(code)", "reason": "\(text)"])
                if code == .readOnly { return ([.authPermissionDenied(reason: "read-only document")], true) }
                return ([], true)
            }
        case .awareness(let a):
            await room.relayAwareness(a, from: id)
            return ([], false)
        case .queryAwareness, .authPermissionDenied:
            return ([], false)
        }
    }
}
