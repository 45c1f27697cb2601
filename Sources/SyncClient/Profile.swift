public import Foundation
public import SyncProtocol

/// Who this data directory syncs as, and where: saved by `nest login`.
public struct Profile: Sendable, Equatable {
    /// Base URL of the server, e.g. `http://127.0.0.1:8787` (`ws://` and `wss://` work too).
    public var server: String
    public var token: String
    /// The user, from the token's `sub` claim until the server's welcome confirms it.
    public var user: String
    /// Workspaces and roles as of the last welcome.
    public var workspaces: [WorkspaceMembership]

    public init(server: String, token: String, user: String, workspaces: [WorkspaceMembership] = []) {
        self.server = server
        self.token = token
        self.user = user
        self.workspaces = workspaces
    }

    /// The `/v1/sync` WebSocket URL of the server.
    public var syncURL: String {
        var base = server
        if base.hasPrefix("http://") { base = "ws://" + base.dropFirst(7) }
        if base.hasPrefix("https://") { base = "wss://" + base.dropFirst(8) }
        if !base.hasPrefix("ws://") && !base.hasPrefix("wss://") { base = "ws://" + base }
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/v1/sync"
    }

    /// The role in a workspace, if a member.
    public func role(in workspace: String) -> Role? { workspaces.first { $0.workspaceID == workspace }?.role }

    /// Reads `sub` and `exp` of a JWT without verifying it (the server verifies;
    /// this only names the user and warns before an expired token is used).
    public static func claims(of token: String) throws(ClientError) -> (user: String, expires: Date?) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .invalidEdit("the token is not a JWT (expected three dot-separated parts)") }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let sub = obj["sub"] as? String, !sub.isEmpty else {
            throw .invalidEdit("the token has no readable `sub` claim")
        }
        let exp = (obj["exp"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
        return (sub, exp)
    }
}

extension LocalStore {
    /// The saved profile, or nil before `nest login`.
    public func profile() throws(ClientError) -> Profile? {
        guard let server = try meta("server"), let token = try meta("token"), let user = try meta("user") else { return nil }
        var workspaces: [WorkspaceMembership] = []
        for item in (try meta("workspaces") ?? "").split(separator: ",") {
            let kv = item.split(separator: "=")
            if kv.count == 2, let raw = Int(kv[1]), let role = Role(rawValue: raw) {
                workspaces.append(WorkspaceMembership(workspaceID: String(kv[0]), role: role))
            }
        }
        return Profile(server: server, token: token, user: user, workspaces: workspaces)
    }

    /// Saves the profile. A different server or user starts the catalog over.
    public func saveProfile(_ p: Profile) throws(ClientError) {
        let old = try profile()
        var values: [String: String?] = [
            "server": p.server, "token": p.token, "user": p.user,
            "workspaces": p.workspaces.map { "\($0.workspaceID)=\($0.role.rawValue)" }.joined(separator: ","),
        ]
        if old?.server != p.server || old?.user != p.user { values["catalog_cursor"] = "0" }
        try setMeta(values)
    }
}
