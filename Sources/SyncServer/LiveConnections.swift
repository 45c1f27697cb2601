import Foundation
import Logging
import SyncProtocol

/// The open connections, the workspaces each relies on and each one's
/// deadline, so that one sweep closes connections whose membership was removed
/// in the store (e.g. by `nest-server members remove`), whose token expired,
/// or that never said hello.
actor LiveConnections {
    /// Why a live connection must end.
    enum Ending: Sendable, Equatable {
        /// The membership of this workspace was removed.
        case revoked(String)
        /// The entry's deadline passed: its token's expiry, or the hello
        /// deadline while it has not authenticated.
        case deadlinePassed
    }

    struct Entry: Sendable {
        /// Nil until the connection has authenticated (its deadline is then the hello deadline).
        let userID: String?
        /// Workspaces the connection needs a membership in.
        let workspaces: @Sendable () -> Set<String>
        /// When the connection must end unless something renews the entry.
        /// One sweep for all connections instead of a sleeping timer task each.
        var deadline: Date? = nil
        /// Ends the connection.
        let end: @Sendable (Ending) -> Void
    }

    private var entries: [ConnectionID: Entry] = [:]

    func add(_ id: ConnectionID, _ entry: Entry) { entries[id] = entry }
    func remove(_ id: ConnectionID) { entries[id] = nil }

    /// Moves a connection's deadline (a new token after `reauth`).
    func renew(_ id: ConnectionID, deadline: Date?) { entries[id]?.deadline = deadline }

    /// Ends connections past their deadline, then re-reads the memberships of
    /// every connected user (one query per thousand users) and ends
    /// connections whose workspaces are no longer all granted.
    func check(_ store: any DocumentStore, logger: Logger) async {
        let now = Date()
        for (id, e) in entries {
            guard let deadline = e.deadline, deadline <= now else { continue }
            entries[id] = nil
            e.end(.deadlinePassed)
        }
        var byUser: [String: [ConnectionID]] = [:]
        for (id, e) in entries { if let user = e.userID { byUser[user, default: []].append(id) } }
        let users = Array(byUser.keys)
        for start in stride(from: 0, to: users.count, by: 1_000) {
            let slice = Array(users[start..<min(start + 1_000, users.count)])
            let granted: [String: Set<String>]
            do {
                granted = try await store.memberships(ofUsers: slice).mapValues { Set($0.map(\.workspaceID)) }
            } catch {
                // A failed read revokes nothing: the next round tries again.
                logger.warning("membership check failed", metadata: ["users": "\(slice.count)", "error": "\(error)"])
                continue
            }
            for user in slice {
                for id in byUser[user] ?? [] {
                    guard let e = entries[id], let lost = e.workspaces().subtracting(granted[user] ?? []).first else { continue }
                    entries[id] = nil
                    e.end(.revoked(lost))
                }
            }
        }
    }
}
