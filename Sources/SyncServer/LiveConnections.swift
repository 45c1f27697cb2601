import SyncProtocol

/// The open connections and the workspaces each relies on, so that a
/// membership removed in the store (e.g. by `nest-server members remove`)
/// closes the connections it no longer allows.
actor LiveConnections {
    struct Entry: Sendable {
        let userID: String
        /// Workspaces the connection needs a membership in.
        let workspaces: @Sendable () -> Set<String>
        /// Closes the connection, naming the workspace that was revoked.
        let revoke: @Sendable (String) -> Void
    }

    private var entries: [ConnectionID: Entry] = [:]

    func add(_ id: ConnectionID, _ entry: Entry) { entries[id] = entry }
    func remove(_ id: ConnectionID) { entries[id] = nil }

    /// Re-reads the memberships of every connected user (one query per
    /// thousand users) and revokes connections whose workspaces are no longer all granted.
    func check(_ store: any DocumentStore) async {
        var byUser: [String: [ConnectionID]] = [:]
        for (id, e) in entries { byUser[e.userID, default: []].append(id) }
        let users = Array(byUser.keys)
        for start in stride(from: 0, to: users.count, by: 1_000) {
            let slice = Array(users[start..<min(start + 1_000, users.count)])
            // A failed read revokes nothing: the next round tries again.
            guard let granted = try? await store.workspaces(ofUsers: slice) else { continue }
            for user in slice {
                for id in byUser[user] ?? [] {
                    guard let e = entries[id], let lost = e.workspaces().subtracting(granted[user] ?? []).first else { continue }
                    entries[id] = nil
                    e.revoke(lost)
                }
            }
        }
    }
}
