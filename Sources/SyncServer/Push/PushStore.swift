public import SyncProtocol
import Foundation

/// What the push relay keeps: devices, preferences, the delivery log,
/// coalescing windows and who follows which document.
public protocol PushStore: Sendable {
    /// Registers an address for a user (the same address again, by anyone, moves it and makes it active).
    func registerDevice(userID: String, address: DeviceAddress, now: Int64) async throws(StoreError) -> RegisteredDevice
    /// A user's devices, active ones only unless `includeDropped`.
    func devices(userID: String, includeDropped: Bool) async throws(StoreError) -> [RegisteredDevice]
    func device(id: String) async throws(StoreError) -> RegisteredDevice?
    /// Several devices in one query, by id; ids without a device are left out.
    func devices(ids: [String]) async throws(StoreError) -> [String: RegisteredDevice]
    /// Removes a user's device; false when the user has no such device.
    func removeDevice(id: String, userID: String) async throws(StoreError) -> Bool
    /// Marks a device dropped because its provider said it is gone — unless it
    /// was registered again after `unlessRegisteredAfter` (APNs' 410 timestamp).
    /// Returns whether it was dropped.
    func dropDevice(id: String, reason: String, now: Int64, unlessRegisteredAfter: Int64?) async throws(StoreError) -> Bool

    func pushPreferences(userID: String) async throws(StoreError) -> PushPreferences
    func setPushPreferences(userID: String, _ preferences: PushPreferences) async throws(StoreError)

    func recordPushDelivery(_ delivery: PushDelivery) async throws(StoreError)
    /// Several outcomes in one transaction.
    func recordPushDeliveries(_ deliveries: [PushDelivery]) async throws(StoreError)
    /// A user's latest deliveries, newest first.
    func pushDeliveries(userID: String, limit: Int) async throws(StoreError) -> [PushDelivery]

    /// Opens the coalescing window `key` at `now` unless one opened within the
    /// last `staleAfter` ms is still open; returns when the open window opened.
    func openPushWindow(key: String, now: Int64, staleAfter: Int64) async throws(StoreError) -> Int64
    /// Closes the window `key` if it is still the one that opened at `opensAt`.
    func closePushWindow(key: String, opensAt: Int64) async throws(StoreError)

    /// Makes a user a follower of a document (editing a draft follows it).
    func follow(documentID: String, userID: String, now: Int64) async throws(StoreError)
    func followers(documentID: String) async throws(StoreError) -> [String]
}

enum PushSchema {
    static let sqlite = """
        CREATE TABLE push_devices (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider TEXT NOT NULL, address TEXT NOT NULL,
            registered_at INTEGER NOT NULL, dropped_at INTEGER, drop_reason TEXT);
        CREATE INDEX push_devices_user ON push_devices(user_id);
        CREATE TABLE push_preferences (user_id TEXT PRIMARY KEY, preferences TEXT NOT NULL);
        CREATE TABLE push_deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, device_id TEXT NOT NULL, provider TEXT NOT NULL,
            event TEXT NOT NULL, doc_id TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, job_id INTEGER NOT NULL, at INTEGER NOT NULL);
        CREATE INDEX push_deliveries_user ON push_deliveries(user_id, id);
        CREATE TABLE push_windows (key TEXT PRIMARY KEY, opens_at INTEGER NOT NULL);
        CREATE TABLE document_followers (doc_id TEXT NOT NULL, user_id TEXT NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (doc_id, user_id));
        """

    static let postgres = [
        """
        CREATE TABLE IF NOT EXISTS push_devices (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider TEXT NOT NULL, address TEXT NOT NULL,
            registered_at BIGINT NOT NULL, dropped_at BIGINT, drop_reason TEXT)
        """,
        "CREATE INDEX IF NOT EXISTS push_devices_user ON push_devices(user_id)",
        "CREATE TABLE IF NOT EXISTS push_preferences (user_id TEXT PRIMARY KEY, preferences TEXT NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS push_deliveries (
            id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, provider TEXT NOT NULL,
            event TEXT NOT NULL, doc_id TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, job_id BIGINT NOT NULL, at BIGINT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS push_deliveries_user ON push_deliveries(user_id, id)",
        "CREATE TABLE IF NOT EXISTS push_windows (key TEXT PRIMARY KEY, opens_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS document_followers (doc_id TEXT NOT NULL, user_id TEXT NOT NULL, since BIGINT NOT NULL, PRIMARY KEY (doc_id, user_id))",
    ]
}

/// JSON of the stored columns and of what the providers are sent; one
/// encoder and decoder each, shared, instead of one made per message.
enum PushJSON {
    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()
    /// Sorted keys: the same notification is the same bytes (payloads sent to providers and devices).
    static let sortedEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func encode(_ value: some Encodable) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws(StoreError) -> T {
        do { return try decoder.decode(type, from: Data(text.utf8)) } catch { throw StoreError(.corrupt, "\(what) is not valid JSON: \(error)") }
    }
}
