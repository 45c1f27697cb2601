import Foundation
import SyncProtocol
import SyncServer
import Testing

/// The test suite every `PushStore` must pass (SQLite and PostgreSQL), times passed in.
enum PushStoreSuite {
    typealias Store = any DocumentStore & PushStore

    static func ntfy(_ topic: String) throws -> DeviceAddress { try DeviceAddress(provider: "ntfy", fields: [.init("url", "https://ntfy.example/\(topic)")]) }

    /// An address registered again moves to its new user and is active again; removal needs the owner; a drop waits for nothing registered later.
    static func devices(_ store: Store) async throws {
        try await store.migrate()
        let a = try await store.registerDevice(userID: "alice", address: try ntfy("a"), now: 1_000)
        let b = try await store.registerDevice(userID: "alice", address: try ntfy("b"), now: 2_000)
        let aAddress = try ntfy("a")
        #expect(a.id != b.id && a.id == RegisteredDevice.id(for: aAddress))
        #expect(try await store.devices(userID: "alice", includeDropped: false).map(\.id) == [a.id, b.id])
        #expect(try await store.device(id: a.id) == a)

        // The provider said "gone" at 1,500 ms: b was registered after that, so it stays.
        #expect(try await !store.dropDevice(id: b.id, reason: "410", now: 3_000, unlessRegisteredAfter: 1_500))
        #expect(try await store.dropDevice(id: a.id, reason: "410 Unregistered", now: 3_000, unlessRegisteredAfter: 1_500))
        #expect(try await !store.dropDevice(id: a.id, reason: "again", now: 3_001, unlessRegisteredAfter: nil), "dropped once")
        #expect(try await store.devices(userID: "alice", includeDropped: false).map(\.id) == [b.id])
        let dropped = try #require(try await store.device(id: a.id))
        #expect(dropped.droppedAt == 3_000 && dropped.dropReason == "410 Unregistered")
        // Read together, as a busy delivery worker does: the same rows, dropped ones included, unknown ids left out.
        let together = try await store.devices(ids: [b.id, "dv_unknown", a.id])
        #expect(together == [a.id: dropped, b.id: try #require(try await store.device(id: b.id))])
        #expect(try await store.devices(ids: []).isEmpty)
        var many = (0..<1_200).map { "dv_none\($0)" }
        many.append(b.id)
        #expect(try await store.devices(ids: many).keys.sorted() == [b.id], "more ids than one statement binds")

        // Bob installs the app where alice had it: the address is his now, and active.
        let moved = try await store.registerDevice(userID: "bob", address: try ntfy("a"), now: 4_000)
        #expect(moved.id == a.id)
        #expect(try await store.device(id: a.id) == RegisteredDevice(id: a.id, userID: "bob", address: aAddress, registeredAt: 4_000))
        #expect(try await store.devices(userID: "alice", includeDropped: true).map(\.id) == [b.id])
        #expect(try await !store.removeDevice(id: b.id, userID: "bob"), "only the owner removes a device")
        #expect(try await store.removeDevice(id: b.id, userID: "alice"))
        #expect(try await store.devices(userID: "alice", includeDropped: true).isEmpty)
    }

    /// Preferences default to every event; the delivery log is per user, newest first.
    static func preferencesAndLog(_ store: Store) async throws {
        try await store.migrate()
        #expect(try await store.pushPreferences(userID: "alice") == .default)
        let p = PushPreferences(events: [.mention, .conflict], quietHours: QuietHours(range: "22:00-07:00", timeZone: "Europe/Berlin"))
        try await store.setPushPreferences(userID: "alice", p)
        #expect(try await store.pushPreferences(userID: "alice") == p)
        try await store.setPushPreferences(userID: "alice", .default)
        #expect(try await store.pushPreferences(userID: "alice") == .default)
        for i in 0..<5 {
            try await store.recordPushDelivery(PushDelivery(userID: i == 2 ? "bob" : "alice", deviceID: "dv_\(i)", provider: "ntfy", event: .edits,
                                                            documentID: "w1/draft/d", outcome: "delivered", detail: "m\(i)", jobID: Int64(i), at: Int64(i)))
        }
        #expect(try await store.pushDeliveries(userID: "alice", limit: 3).map(\.deviceID) == ["dv_4", "dv_3", "dv_1"])
        #expect(try await store.pushDeliveries(userID: "bob", limit: 10).map(\.detail) == ["m2"])
    }

    /// A window stays open (same opening time) until closed or stale; closing an older window leaves a newer one.
    static func windowsAndFollowers(_ store: Store) async throws {
        try await store.migrate()
        #expect(try await store.openPushWindow(key: "edits:bob:d", now: 1_000, staleAfter: 120_000) == 1_000)
        #expect(try await store.openPushWindow(key: "edits:bob:d", now: 5_000, staleAfter: 120_000) == 1_000)
        try await store.closePushWindow(key: "edits:bob:d", opensAt: 999)
        #expect(try await store.openPushWindow(key: "edits:bob:d", now: 6_000, staleAfter: 120_000) == 1_000, "closing another window changes nothing")
        try await store.closePushWindow(key: "edits:bob:d", opensAt: 1_000)
        #expect(try await store.openPushWindow(key: "edits:bob:d", now: 7_000, staleAfter: 120_000) == 7_000)
        // A window whose job never ran (a crash between the two) is reopened once stale.
        #expect(try await store.openPushWindow(key: "edits:bob:d", now: 200_000, staleAfter: 120_000) == 200_000)
        let opened = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<20 { group.addTask { try await store.openPushWindow(key: "race", now: 10_000 + Int64(i), staleAfter: 120_000) } }
            return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
        }
        #expect(opened.count == 1, "concurrent openers agree on one window: \(opened)")
        try await store.follow(documentID: "w1/draft/d", userID: "bob", now: 1)
        try await store.follow(documentID: "w1/draft/d", userID: "alice", now: 2)
        try await store.follow(documentID: "w1/draft/d", userID: "bob", now: 3)
        #expect(try await store.followers(documentID: "w1/draft/d") == ["alice", "bob"])
        #expect(try await store.followers(documentID: "w1/draft/e").isEmpty)
    }
}

@Suite("Push store on SQLite")
struct SQLitePushStoreTests {
    func store() throws -> SQLiteDocumentStore { try SQLiteStoreTests.freshStore().0 }
    @Test func devices() async throws { try await PushStoreSuite.devices(try store()) }
    @Test func preferencesAndLog() async throws { try await PushStoreSuite.preferencesAndLog(try store()) }
    @Test func windowsAndFollowers() async throws { try await PushStoreSuite.windowsAndFollowers(try store()) }
}

@Suite("Push store on PostgreSQL")
struct PostgresPushStoreTests {
    @Test func devices() async throws { try await PostgresStoreTests.withStore { try await PushStoreSuite.devices($0) } }
    @Test func preferencesAndLog() async throws { try await PostgresStoreTests.withStore { try await PushStoreSuite.preferencesAndLog($0) } }
    @Test func windowsAndFollowers() async throws { try await PostgresStoreTests.withStore { try await PushStoreSuite.windowsAndFollowers($0) } }
}
