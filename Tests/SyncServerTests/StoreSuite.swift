import Testing
import Foundation
import CRDT
import SyncProtocol
import SyncServer

/// The test suite every `DocumentStore` implementation must pass.
enum StoreSuite {
    /// A v1 update inserting `text` at the end of root text "t", made by `client`.
    static func textUpdates(_ texts: [String], client: Int) throws -> [[UInt8]] {
        let doc = Doc(clientID: client)
        var out: [[UInt8]] = []
        doc.onUpdate { u, _ in out.append(u) }
        for t in texts { try doc.getText("t").insert(doc.getText("t").length, t) }
        return out
    }

    static func text(of stored: StoredDocument) throws -> String {
        let doc = Doc(clientID: 99)
        if let s = stored.snapshot { try doc.applyUpdate(s) }
        for u in stored.updates { try doc.applyUpdate(u.update) }
        return doc.getText("t").toString()
    }

    static func appendAndLoad(_ store: any DocumentStore) async throws {
        try await store.migrate()
        try await store.migrate()  // idempotent
        let empty = try await store.load(documentID: "w1/draft/none")
        #expect(empty == StoredDocument(snapshot: nil, snapshotSeq: 0, updates: []))
        let updates = try textUpdates(["a", "b", "c"], client: 1)
        var seqs: [Int] = []
        for u in updates { seqs.append(try await store.append(documentID: "w1/draft/d1", update: u, userID: "u1")) }
        let other = try await store.append(documentID: "w1/draft/d2", update: try textUpdates(["x"], client: 2)[0], userID: "u2")
        #expect(seqs == seqs.sorted() && Set(seqs).count == 3)
        #expect(other > seqs.max() ?? 0)
        let loaded = try await store.load(documentID: "w1/draft/d1")
        #expect(loaded.updates.map(\.update) == updates)
        #expect(loaded.updates.map(\.seq) == seqs)
        #expect(loaded.lastSeq == seqs.last)
        #expect(try text(of: loaded) == "abc")
        await #expect(throws: StoreError.self) { _ = try await store.append(documentID: "", update: [0, 0], userID: "u") }
    }

    static func compaction(_ store: any DocumentStore) async throws {
        try await store.migrate()
        let doc = Doc(clientID: 3)
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        for ch in "hello" { try doc.getText("t").insert(doc.getText("t").length, String(ch)) }
        var last = 0
        for u in updates { last = try await store.append(documentID: "w1/draft/c", update: u, userID: "u") }
        try await store.compact(documentID: "w1/draft/c", throughSeq: last, snapshot: try doc.encodeStateAsUpdate(), stateVector: doc.encodeStateVector())
        // Appended after the compaction point: must survive.
        updates.removeAll()
        try doc.getText("t").insert(5, "!")
        let after = try await store.append(documentID: "w1/draft/c", update: updates[0], userID: "u")
        let loaded = try await store.load(documentID: "w1/draft/c")
        #expect(loaded.snapshotSeq == last)
        #expect(loaded.updates.map(\.seq) == [after])
        #expect(try text(of: loaded) == "hello!")
        // A late compaction of an older point changes nothing.
        try await store.compact(documentID: "w1/draft/c", throughSeq: last - 1, snapshot: [0, 0], stateVector: [0])
        #expect(try await store.load(documentID: "w1/draft/c") == loaded)
    }

    /// Appends running while compactions run: every update stays.
    static func compactionUnderConcurrentAppends(_ store: any DocumentStore) async throws {
        try await store.migrate()
        let id = "w1/draft/race"
        let writers = 4
        let perWriter = 40
        let all = try (0..<writers).map { w in try textUpdates((0..<perWriter).map { "\(w)-\($0);" }, client: 10 + w) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    for u in all[w] { _ = try await store.append(documentID: id, update: u, userID: "u\(w)") }
                }
            }
            group.addTask {
                for _ in 0..<15 {
                    let stored = try await store.load(documentID: id)
                    let doc = Doc(clientID: 77)
                    if let s = stored.snapshot { try doc.applyUpdate(s) }
                    for u in stored.updates { try doc.applyUpdate(u.update) }
                    try await store.compact(documentID: id, throughSeq: stored.lastSeq, snapshot: try doc.encodeStateAsUpdate(), stateVector: doc.encodeStateVector())
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            try await group.waitForAll()
        }
        let text = try text(of: try await store.load(documentID: id))
        for w in 0..<writers {
            for i in 0..<perWriter { #expect(text.contains("\(w)-\(i);"), "lost \(w)-\(i)") }
        }
    }

    /// Many concurrent appends (committed in groups by the SQLite store): every
    /// one gets a distinct sequence, every document loads all of its updates in
    /// order, and the catalog names each document's latest sequence.
    static func concurrentAppends(_ store: any DocumentStore) async throws {
        try await store.migrate()
        let seqs = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for i in 0..<200 {
                group.addTask { ("w1/draft/c\(i % 10)", try await store.append(documentID: "w1/draft/c\(i % 10)", update: [0, 0], userID: "u\(i)")) }
            }
            var out: [(String, Int)] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(Set(seqs.map(\.1)).count == 200, "sequences are not distinct")
        for d in 0..<10 {
            let stored = try await store.load(documentID: "w1/draft/c\(d)")
            let mine = seqs.filter { $0.0 == "w1/draft/c\(d)" }.map(\.1).sorted()
            #expect(stored.updates.map(\.seq) == mine)
            #expect(stored.lastSeq == mine.last)
        }
        let (entries, _) = try await store.changedDocuments(since: 0, workspaces: ["w1"])
        for e in entries { #expect(e.serverSeq == seqs.filter { $0.0 == e.documentID }.map(\.1).max()) }
        #expect(entries.count == 10)
    }

    static func catalog(_ store: any DocumentStore) async throws {
        try await store.migrate()
        let start = try await store.changedDocuments(since: 0, workspaces: ["cat"]).cursor
        let u = try textUpdates(["a"], client: 5)[0]
        _ = try await store.append(documentID: "cat/draft/one", update: u, userID: "u")
        let s2 = try await store.append(documentID: "cat/calendar/main", update: u, userID: "u")
        _ = try await store.append(documentID: "other/draft/x", update: u, userID: "u")
        _ = try await store.append(documentID: "cats/draft/y", update: u, userID: "u")
        let (entries, cursor) = try await store.changedDocuments(since: start, workspaces: ["cat"])
        #expect(Set(entries.map(\.documentID)) == ["cat/draft/one", "cat/calendar/main"])
        #expect(entries.first { $0.documentID == "cat/calendar/main" }?.serverSeq == s2)
        #expect(cursor >= s2)
        #expect(try await store.changedDocuments(since: cursor, workspaces: ["cat"]).entries.isEmpty)
        _ = try await store.append(documentID: "cat/draft/one", update: u, userID: "u")
        #expect(try await store.changedDocuments(since: cursor, workspaces: ["cat"]).entries.map(\.documentID) == ["cat/draft/one"])
    }

    static func memberships(_ store: any DocumentStore) async throws {
        try await store.migrate()
        try await store.setMembership(workspaceID: "w1", userID: "alice", role: .owner)
        try await store.setMembership(workspaceID: "w2", userID: "alice", role: .viewer)
        try await store.setMembership(workspaceID: "w1", userID: "bob", role: .editor)
        try await store.setMembership(workspaceID: "w1", userID: "bob", role: .viewer)
        #expect(try await store.memberships(userID: "alice") == [
            WorkspaceMembership(workspaceID: "w1", role: .owner), WorkspaceMembership(workspaceID: "w2", role: .viewer),
        ])
        let members = try await store.members(workspaceID: "w1")
        #expect(members.map(\.userID) == ["alice", "bob"])
        #expect(members.map(\.role) == [.owner, .viewer])
        #expect(try await store.removeMembership(workspaceID: "w1", userID: "bob"))
        #expect(try await !store.removeMembership(workspaceID: "w1", userID: "bob"))
        #expect(try await store.memberships(userID: "bob").isEmpty)
        let many = (0..<1_200).map { "user\($0)" }
        for u in many.prefix(3) { try await store.setMembership(workspaceID: "w9", userID: u, role: .editor) }
        try await store.setMembership(workspaceID: "w0", userID: "user1", role: .viewer)
        let granted = try await store.memberships(ofUsers: ["alice", "bob"] + many)
        #expect(granted["alice"] == [WorkspaceMembership(workspaceID: "w1", role: .owner), WorkspaceMembership(workspaceID: "w2", role: .viewer)])
        #expect(granted["bob"] == nil && granted["user3"] == nil && granted.count == 4)
        #expect(granted["user0"] == [WorkspaceMembership(workspaceID: "w9", role: .editor)])
        #expect(granted["user1"] == [WorkspaceMembership(workspaceID: "w0", role: .viewer), WorkspaceMembership(workspaceID: "w9", role: .editor)])
        #expect(try await store.memberships(ofUsers: []).isEmpty)
    }
}

@Suite("SQLite store")
struct SQLiteStoreTests {
    static func freshStore() throws -> (SQLiteDocumentStore, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("nest.sqlite").path
        return (try SQLiteDocumentStore(path: path), path)
    }

    @Test func appendAndLoad() async throws { try await StoreSuite.appendAndLoad(try Self.freshStore().0) }
    @Test func compaction() async throws { try await StoreSuite.compaction(try Self.freshStore().0) }
    @Test func compactionUnderConcurrentAppends() async throws { try await StoreSuite.compactionUnderConcurrentAppends(try Self.freshStore().0) }
    @Test func catalog() async throws { try await StoreSuite.catalog(try Self.freshStore().0) }
    @Test func concurrentAppends() async throws { try await StoreSuite.concurrentAppends(try Self.freshStore().0) }
    @Test func memberships() async throws { try await StoreSuite.memberships(try Self.freshStore().0) }

    @Test("data survives reopening the file")
    func reopen() async throws {
        let (store, path) = try Self.freshStore()
        try await store.migrate()
        for u in try StoreSuite.textUpdates(["x", "y"], client: 4) { _ = try await store.append(documentID: "w/draft/r", update: u, userID: "u") }
        let again = try SQLiteDocumentStore(path: path)
        try await again.migrate()
        #expect(try StoreSuite.text(of: try await again.load(documentID: "w/draft/r")) == "xy")
    }

    @Test("an unreadable database file is an error, not an empty store")
    func unreadable() async throws {
        let (_, path) = try Self.freshStore()
        try Data("this is not a database".utf8).write(to: URL(fileURLWithPath: path + ".bad"))
        do {
            let bad = try SQLiteDocumentStore(path: path + ".bad")
            try await bad.migrate()
            Issue.record("a garbage file was accepted")
        } catch {
            #expect(error.code == .unavailable)
        }
    }
}
