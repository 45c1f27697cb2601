import Synchronization
import SyncProtocol

/// Devices whose registering connection is open on this node: a notification
/// for one of them goes in-band over that connection instead of as a push.
public final class LiveDevices: Sendable {
    private struct Attached {
        var connection: ConnectionID
        var send: @Sendable (NestMessage) -> Void
    }

    private let byDevice = Mutex<[String: Attached]>([:])

    public init() {}

    /// The device is reachable over `connection` until it closes (a later registration over another connection wins).
    func attach(_ deviceID: String, connection: ConnectionID, send: @escaping @Sendable (NestMessage) -> Void) {
        byDevice.withLock { $0[deviceID] = Attached(connection: connection, send: send) }
    }

    /// The connection closed: its devices go back to pushes.
    func detach(connection: ConnectionID) {
        byDevice.withLock { map in
            for (device, a) in map where a.connection == connection { map[device] = nil }
        }
    }

    /// Sends the notification in-band if the device is live here; false when it is not.
    func deliver(_ n: PushNotification, to deviceID: String) -> Bool {
        guard let a = byDevice.withLock({ $0[deviceID] }) else { return false }
        a.send(.event(kind: "push.\(n.event.rawValue)", documentID: n.documentID, payloadJSON: n.payloadJSON))
        return true
    }

    func isLive(_ deviceID: String) -> Bool { byDevice.withLock { $0[deviceID] != nil } }
}
