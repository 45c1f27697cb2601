import Foundation
import GRDB
public import SyncProtocol

extension SQLiteDocumentStore: PushStore {
    public func registerDevice(userID: String, address: DeviceAddress, now: Int64) async throws(StoreError) -> RegisteredDevice {
        let device = RegisteredDevice(id: RegisteredDevice.id(for: address), userID: userID, address: address, registeredAt: now)
        let json = PushJSON.encode(address)
        try await write("device") { db in
            try db.execute(sql: """
                INSERT INTO push_devices (id, user_id, provider, address, registered_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET user_id = excluded.user_id, address = excluded.address,
                    registered_at = excluded.registered_at, dropped_at = NULL, drop_reason = NULL
                """, arguments: [device.id, userID, address.provider, json, now])
        }
        return device
    }

    public func devices(userID: String, includeDropped: Bool) async throws(StoreError) -> [RegisteredDevice] {
        try await read("devices") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM push_devices WHERE user_id = ? \(includeDropped ? "" : "AND dropped_at IS NULL") ORDER BY registered_at, id",
                             arguments: [userID]).map(Self.device)
        }
    }

    public func device(id: String) async throws(StoreError) -> RegisteredDevice? {
        try await read("device") { db in try Row.fetchOne(db, sql: "SELECT * FROM push_devices WHERE id = ?", arguments: [id]).map(Self.device) }
    }

    public func devices(ids: [String]) async throws(StoreError) -> [String: RegisteredDevice] {
        guard !ids.isEmpty else { return [:] }
        return try await read("device") { db in
            var found: [String: RegisteredDevice] = [:]
            // One statement per 500 ids keeps under SQLite's limit on bound parameters.
            for start in stride(from: 0, to: ids.count, by: 500) {
                let chunk = Array(ids[start..<min(ids.count, start + 500)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for r in try Row.fetchAll(db, sql: "SELECT * FROM push_devices WHERE id IN (\(marks))", arguments: StatementArguments(chunk)) {
                    let d = try Self.device(r)
                    found[d.id] = d
                }
            }
            return found
        }
    }

    public func removeDevice(id: String, userID: String) async throws(StoreError) -> Bool {
        try await write("device") { db in
            try db.execute(sql: "DELETE FROM push_devices WHERE id = ? AND user_id = ?", arguments: [id, userID])
            return db.changesCount > 0
        }
    }

    public func dropDevice(id: String, reason: String, now: Int64, unlessRegisteredAfter: Int64?) async throws(StoreError) -> Bool {
        try await write("device") { db in
            try db.execute(sql: """
                UPDATE push_devices SET dropped_at = ?, drop_reason = ? WHERE id = ? AND dropped_at IS NULL AND registered_at <= ?
                """, arguments: [now, reason, id, unlessRegisteredAfter ?? Int64.max])
            return db.changesCount > 0
        }
    }

    public func pushPreferences(userID: String) async throws(StoreError) -> PushPreferences {
        let text = try await read("push preferences") { db in
            try String.fetchOne(db, sql: "SELECT preferences FROM push_preferences WHERE user_id = ?", arguments: [userID])
        }
        return try text.map { t throws(StoreError) in try PushJSON.decode(PushPreferences.self, t, "push preferences") } ?? .default
    }

    public func setPushPreferences(userID: String, _ preferences: PushPreferences) async throws(StoreError) {
        let json = PushJSON.encode(preferences)
        try await write("push preferences") { db in
            try db.execute(sql: """
                INSERT INTO push_preferences (user_id, preferences) VALUES (?, ?) ON CONFLICT(user_id) DO UPDATE SET preferences = excluded.preferences
                """, arguments: [userID, json])
        }
    }

    public func recordPushDelivery(_ d: PushDelivery) async throws(StoreError) {
        try await recordPushDeliveries([d])
    }

    public func recordPushDeliveries(_ deliveries: [PushDelivery]) async throws(StoreError) {
        try await write("push log") { db in
            // One prepared statement for the whole group (and, cached, for later groups).
            let insert = try db.cachedStatement(sql: """
                INSERT INTO push_deliveries (user_id, device_id, provider, event, doc_id, outcome, detail, job_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for d in deliveries {
                try insert.execute(arguments: [d.userID, d.deviceID, d.provider, d.event.rawValue, d.documentID, d.outcome, d.detail, d.jobID, d.at])
            }
        }
    }

    public func pushDeliveries(userID: String, limit: Int) async throws(StoreError) -> [PushDelivery] {
        try await read("push log") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM push_deliveries WHERE user_id = ? ORDER BY id DESC LIMIT ?", arguments: [userID, limit]).map { r in
                PushDelivery(userID: r["user_id"], deviceID: r["device_id"], provider: r["provider"], event: PushEvent(rawValue: r["event"]),
                             documentID: r["doc_id"], outcome: r["outcome"], detail: r["detail"], jobID: r["job_id"], at: r["at"])
            }
        }
    }

    public func openPushWindow(key: String, now: Int64, staleAfter: Int64) async throws(StoreError) -> Int64 {
        try await write("push window") { db in
            if let open = try Int64.fetchOne(db, sql: "SELECT opens_at FROM push_windows WHERE key = ?", arguments: [key]), open > now - staleAfter {
                return open
            }
            try db.execute(sql: "INSERT INTO push_windows (key, opens_at) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET opens_at = excluded.opens_at",
                           arguments: [key, now])
            return now
        }
    }

    public func closePushWindow(key: String, opensAt: Int64) async throws(StoreError) {
        try await write("push window") { db in
            try db.execute(sql: "DELETE FROM push_windows WHERE key = ? AND opens_at = ?", arguments: [key, opensAt])
        }
    }

    public func follow(documentID: String, userID: String, now: Int64) async throws(StoreError) {
        try await write("followers") { db in
            try db.execute(sql: "INSERT INTO document_followers (doc_id, user_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           arguments: [documentID, userID, now])
        }
    }

    public func followers(documentID: String) async throws(StoreError) -> [String] {
        try await read("followers") { db in
            try String.fetchAll(db, sql: "SELECT user_id FROM document_followers WHERE doc_id = ? ORDER BY user_id", arguments: [documentID])
        }
    }

    private static func device(_ r: Row) throws(StoreError) -> RegisteredDevice {
        RegisteredDevice(id: r["id"], userID: r["user_id"], address: try PushJSON.decode(DeviceAddress.self, r["address"], "a device address"),
                         registeredAt: r["registered_at"], droppedAt: r["dropped_at"], dropReason: r["drop_reason"])
    }
}
