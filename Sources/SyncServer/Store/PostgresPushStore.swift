import Foundation
import PostgresNIO
public import SyncProtocol

extension PostgresDocumentStore: PushStore {
    public func registerDevice(userID: String, address: DeviceAddress, now: Int64) async throws(StoreError) -> RegisteredDevice {
        let device = RegisteredDevice(id: RegisteredDevice.id(for: address), userID: userID, address: address, registeredAt: now)
        let json = PushJSON.encode(address), provider = address.provider
        _ = try await run("device") { [self] in
            try await client.query("""
                INSERT INTO push_devices (id, user_id, provider, address, registered_at) VALUES (\(device.id), \(userID), \(provider), \(json), \(now))
                ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, address = EXCLUDED.address,
                    registered_at = EXCLUDED.registered_at, dropped_at = NULL, drop_reason = NULL
                """, logger: logger)
        }
        return device
    }

    private typealias DeviceRow = (String, String, String, Int64, Int64?, String?)

    public func devices(userID: String, includeDropped: Bool) async throws(StoreError) -> [RegisteredDevice] {
        let rows: [DeviceRow] = try await run("devices") { [self] in
            var out: [DeviceRow] = []
            for try await r in try await client.query("""
                SELECT id, user_id, address, registered_at, dropped_at, drop_reason FROM push_devices
                WHERE user_id = \(userID) AND (\(includeDropped) OR dropped_at IS NULL) ORDER BY registered_at, id
                """, logger: logger).decode(DeviceRow.self) { out.append(r) }
            return out
        }
        var out: [RegisteredDevice] = []
        for r in rows { out.append(try Self.device(r)) }
        return out
    }

    public func device(id: String) async throws(StoreError) -> RegisteredDevice? {
        let row: DeviceRow? = try await run("device") { [self] in
            for try await r in try await client.query("""
                SELECT id, user_id, address, registered_at, dropped_at, drop_reason FROM push_devices WHERE id = \(id)
                """, logger: logger).decode(DeviceRow.self) { return r }
            return nil
        }
        return try row.map(Self.device)
    }

    public func devices(ids: [String]) async throws(StoreError) -> [String: RegisteredDevice] {
        guard !ids.isEmpty else { return [:] }
        let rows: [DeviceRow] = try await run("device") { [self] in
            var rows: [DeviceRow] = []
            for try await r in try await client.query("""
                SELECT id, user_id, address, registered_at, dropped_at, drop_reason FROM push_devices WHERE id = ANY(\(ids)::text[])
                """, logger: logger).decode(DeviceRow.self) { rows.append(r) }
            return rows
        }
        var found: [String: RegisteredDevice] = [:]
        for r in rows {
            let d = try Self.device(r)
            found[d.id] = d
        }
        return found
    }

    public func removeDevice(id: String, userID: String) async throws(StoreError) -> Bool {
        try await run("device") { [self] in
            for try await _ in try await client.query("DELETE FROM push_devices WHERE id = \(id) AND user_id = \(userID) RETURNING id", logger: logger)
                .decode(String.self) { return true }
            return false
        }
    }

    public func dropDevice(id: String, reason: String, now: Int64, unlessRegisteredAfter: Int64?) async throws(StoreError) -> Bool {
        let limit = unlessRegisteredAfter ?? Int64.max
        return try await run("device") { [self] in
            for try await _ in try await client.query("""
                UPDATE push_devices SET dropped_at = \(now), drop_reason = \(reason)
                WHERE id = \(id) AND dropped_at IS NULL AND registered_at <= \(limit) RETURNING id
                """, logger: logger).decode(String.self) { return true }
            return false
        }
    }

    public func pushPreferences(userID: String) async throws(StoreError) -> PushPreferences {
        let text: String? = try await run("push preferences") { [self] in
            for try await t in try await client.query("SELECT preferences FROM push_preferences WHERE user_id = \(userID)", logger: logger)
                .decode(String.self) { return t }
            return nil
        }
        guard let text else { return .default }
        return try PushJSON.decode(PushPreferences.self, text, "push preferences")
    }

    public func setPushPreferences(userID: String, _ preferences: PushPreferences) async throws(StoreError) {
        let json = PushJSON.encode(preferences)
        _ = try await run("push preferences") { [self] in
            try await client.query("""
                INSERT INTO push_preferences (user_id, preferences) VALUES (\(userID), \(json))
                ON CONFLICT (user_id) DO UPDATE SET preferences = EXCLUDED.preferences
                """, logger: logger)
        }
    }

    public func recordPushDeliveries(_ deliveries: [PushDelivery]) async throws(StoreError) {
        guard !deliveries.isEmpty else { return }
        let users = deliveries.map(\.userID), devices = deliveries.map(\.deviceID), providers = deliveries.map(\.provider)
        let events = deliveries.map(\.event.rawValue), docs = deliveries.map(\.documentID), outcomes = deliveries.map(\.outcome)
        let details = deliveries.map(\.detail), jobs = deliveries.map(\.jobID), ats = deliveries.map(\.at)
        _ = try await run("push log") { [self] in
            try await client.query("""
                INSERT INTO push_deliveries (user_id, device_id, provider, event, doc_id, outcome, detail, job_id, at)
                SELECT * FROM unnest(\(users)::text[], \(devices)::text[], \(providers)::text[], \(events)::text[], \(docs)::text[],
                                     \(outcomes)::text[], \(details)::text[], \(jobs)::bigint[], \(ats)::bigint[])
                """, logger: logger)
        }
    }

    public func recordPushDelivery(_ d: PushDelivery) async throws(StoreError) {
        _ = try await run("push log") { [self] in
            try await client.query("""
                INSERT INTO push_deliveries (user_id, device_id, provider, event, doc_id, outcome, detail, job_id, at)
                VALUES (\(d.userID), \(d.deviceID), \(d.provider), \(d.event.rawValue), \(d.documentID), \(d.outcome), \(d.detail), \(d.jobID), \(d.at))
                """, logger: logger)
        }
    }

    public func pushDeliveries(userID: String, limit: Int) async throws(StoreError) -> [PushDelivery] {
        try await run("push log") { [self] in
            var out: [PushDelivery] = []
            for try await r in try await client.query("""
                SELECT user_id, device_id, provider, event, doc_id, outcome, detail, job_id, at FROM push_deliveries
                WHERE user_id = \(userID) ORDER BY id DESC LIMIT \(limit)
                """, logger: logger).decode((String, String, String, String, String, String, String, Int64, Int64).self) {
                out.append(PushDelivery(userID: r.0, deviceID: r.1, provider: r.2, event: PushEvent(rawValue: r.3), documentID: r.4,
                                        outcome: r.5, detail: r.6, jobID: r.7, at: r.8))
            }
            return out
        }
    }

    public func openPushWindow(key: String, now: Int64, staleAfter: Int64) async throws(StoreError) -> Int64 {
        let stale = now - staleAfter
        return try await run("push window") { [self] in
            // Opens the window unless a fresh one is open; either way one statement answers when the open one opened.
            for try await opened in try await client.query("""
                INSERT INTO push_windows (key, opens_at) VALUES (\(key), \(now))
                ON CONFLICT (key) DO UPDATE SET opens_at = CASE WHEN push_windows.opens_at <= \(stale) THEN EXCLUDED.opens_at ELSE push_windows.opens_at END
                RETURNING opens_at
                """, logger: logger).decode(Int64.self) { return opened }
            return now
        }
    }

    public func closePushWindow(key: String, opensAt: Int64) async throws(StoreError) {
        _ = try await run("push window") { [self] in
            try await client.query("DELETE FROM push_windows WHERE key = \(key) AND opens_at = \(opensAt)", logger: logger)
        }
    }

    public func follow(documentID: String, userID: String, now: Int64) async throws(StoreError) {
        _ = try await run("followers") { [self] in
            try await client.query("""
                INSERT INTO document_followers (doc_id, user_id, since) VALUES (\(documentID), \(userID), \(now)) ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    public func followers(documentID: String) async throws(StoreError) -> [String] {
        try await run("followers") { [self] in
            var out: [String] = []
            for try await u in try await client.query("SELECT user_id FROM document_followers WHERE doc_id = \(documentID) ORDER BY user_id", logger: logger)
                .decode(String.self) { out.append(u) }
            return out
        }
    }

    private static func device(_ r: DeviceRow) throws(StoreError) -> RegisteredDevice {
        RegisteredDevice(id: r.0, userID: r.1, address: try PushJSON.decode(DeviceAddress.self, r.2, "a device address"),
                         registeredAt: r.3, droppedAt: r.4, dropReason: r.5)
    }
}
