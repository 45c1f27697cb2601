import Testing
import Foundation
import CRDT
import SyncProtocol
import SyncServer
import Synchronization

/// Collects what a room sends to one subscriber.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [RoomEvent] = []
    func add(_ e: RoomEvent) { lock.withLock { events.append(e) } }
    var updates: [[UInt8]] {
        lock.withLock { events.compactMap { if case .update(let u, _) = $0 { u } else { nil } } }
    }
}

@Suite("document rooms")
struct DocumentRoomTests {
    @Test("an update is committed, acked, and fanned out to the other subscribers only")
    func fanOut() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/a", store: store)
        let inboxA = Inbox()
        let inboxB = Inbox()
        _ = try await room.subscribe(1) { inboxA.add($0) }
        _ = try await room.subscribe(2) { inboxB.add($0) }
        let u = try StoreSuite.textUpdates(["hi"], client: 11)[0]
        let result = await room.apply(u, from: 1, userID: "alice", role: .editor)
        guard case .acked(let seq) = result else { Issue.record("\(result)"); return }
        #expect(try await store.load(documentID: "w1/draft/a").lastSeq == seq)
        #expect(inboxA.updates.isEmpty)
        #expect(inboxB.updates.count == 1)
        let peer = Doc(clientID: 50)
        for x in inboxB.updates { try peer.applyUpdate(x) }
        #expect(peer.getText("t").toString() == "hi")
    }

    @Test("an update reaches the other subscribers before its commit; the sender's ack waits for the commit, and a failed commit is refused and taken again")
    func relayBeforeCommit() async throws {
        let (sqlite, _) = try SQLiteStoreTests.freshStore()
        try await sqlite.migrate()
        let store = InstrumentedStore(sqlite)
        let room = DocumentRoom(documentID: "w1/draft/r", store: store)
        let inbox = Inbox()
        _ = try await room.subscribe(1) { _ in }
        _ = try await room.subscribe(2) { inbox.add($0) }
        let updates = try StoreSuite.textUpdates(["slow", " disk"], client: 14)
        store.holdAppends.store(true, ordering: .relaxed)
        let sender = Task { await room.apply(updates[0], from: 1, userID: "alice", role: .editor) }
        var waited = 0
        while inbox.updates.isEmpty && waited < 400 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
        #expect(inbox.updates == [updates[0]], "relayed while the commit is held")
        #expect(try await store.load(documentID: "w1/draft/r").updates.isEmpty, "not committed yet")
        store.holdAppends.store(false, ordering: .relaxed)
        guard case .acked(let seq) = await sender.value else { Issue.record("not acked"); return }
        #expect(try await store.load(documentID: "w1/draft/r").lastSeq == seq)

        // A failed commit: relayed all the same, the sender refused; its resend is stored and relayed again.
        store.failAppends.store(true, ordering: .relaxed)
        #expect(await room.apply(updates[1], from: 1, userID: "alice", role: .editor) == .refused(.storeUnavailable, "commit failed: disk full (test)"))
        #expect(inbox.updates.count == 2)
        store.failAppends.store(false, ordering: .relaxed)
        guard case .acked(let again) = await room.apply(updates[1], from: 1, userID: "alice", role: .editor), again > seq else {
            Issue.record("the resend was not stored"); return
        }
        let peer = Doc(clientID: 52)
        for u in inbox.updates { try peer.applyUpdate(u) }
        #expect(peer.getText("t").toString() == "slow disk")
        let stored = Doc(clientID: 53)
        try stored.applyUpdate(try await room.syncStep2(for: [0]))
        #expect(stored.getText("t").toString() == "slow disk")
    }

    @Test("the full state for new joiners is merged once per version and held once")
    func fullStateMergedOnce() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/c", store: store)
        let updates = try StoreSuite.textUpdates(["hello", " world", "!"], client: 13)
        #expect(await room.apply(updates[0], from: 1, userID: "e", role: .editor) == .acked(serverSeq: 1))
        let before = await room.residentBytes
        #expect(before >= updates[0].count)
        // One update held is its own full state: handed out, not copied.
        #expect(try await room.syncStep2(for: [0]) == updates[0])
        #expect(await room.residentBytes == before)
        guard case .acked = await room.apply(updates[1], from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        // The same client's next clocks extend its range: only the bytes are added.
        #expect(await room.residentBytes == before + updates[1].count)
        // Joining merges the updates into one, which replaces them: held once, handed to every joiner.
        let full = try await room.syncStep2(for: [0])
        #expect(await room.residentBytes == before - updates[0].count + full.count)
        #expect(try await room.syncStep2(for: [0]) == full)
        let peer = Doc(clientID: 51)
        try peer.applyUpdate(full)
        #expect(peer.getText("t").toString() == "hello world")
        guard case .acked = await room.apply(updates[2], from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        #expect(await room.residentBytes == before - updates[0].count + full.count + updates[2].count)
    }

    @Test("viewers, malformed updates and no-op updates change nothing in store or room")
    func refusals() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/b", store: store)
        let inbox = Inbox()
        _ = try await room.subscribe(2) { inbox.add($0) }
        let u = try StoreSuite.textUpdates(["ok"], client: 12)[0]
        #expect(await room.apply(u, from: 1, userID: "v", role: .viewer) == .refused(.readOnly, "role viewer cannot edit w1/draft/b"))
        var bad = u
        bad.removeLast()
        if case .refused(let code, _) = await room.apply(bad, from: 1, userID: "e", role: .editor) {
            #expect(code == .malformedUpdate)
        } else {
            Issue.record("truncated update accepted")
        }
        #expect(try await store.load(documentID: "w1/draft/b").updates.isEmpty)
        #expect(inbox.updates.isEmpty)
        guard case .acked(let first) = await room.apply(u, from: 1, userID: "e", role: .editor) else { Issue.record("valid update refused"); return }
        // The same update again adds nothing: acked at the same sequence, not stored.
        #expect(await room.apply(u, from: 1, userID: "e", role: .editor) == .acked(serverSeq: first))
        #expect(try await store.load(documentID: "w1/draft/b").updates.count == 1)
        #expect(inbox.updates.count == 1)
    }

    @Test("a new room (a restarted server) has every acked update; sync step 2 covers what a peer lacks")
    func reload() async throws {
        let (store, path) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/c", store: store)
        for u in try StoreSuite.textUpdates(["one ", "two ", "three"], client: 13) {
            guard case .acked = await room.apply(u, from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        }
        try await room.compact()
        for u in try StoreSuite.textUpdates(["!"], client: 14) { _ = await room.apply(u, from: 1, userID: "e", role: .editor) }
        let restarted = DocumentRoom(documentID: "w1/draft/c", store: try SQLiteDocumentStore(path: path))
        _ = try await restarted.subscribe(9) { _ in }
        let step2 = try await restarted.syncStep2(for: [0])
        let peer = Doc(clientID: 60)
        try peer.applyUpdate(step2)
        #expect(peer.getText("t").toString().hasPrefix("one two three") || peer.getText("t").toString().hasPrefix("!one two three"))
        #expect(peer.getText("t").length == 14)
        // A peer that has part of it gets only the rest.
        let partial = Doc(clientID: 61)
        try partial.applyUpdate(try StoreSuite.textUpdates(["one "], client: 13)[0])
        let rest = try await restarted.syncStep2(for: partial.encodeStateVector())
        #expect(rest.count < step2.count)
        try partial.applyUpdate(rest)
        #expect(partial.getText("t").toString() == peer.getText("t").toString())
    }

    @Test("a document that does not decode is a load error, never an empty document")
    func corruptDocument() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        _ = try await store.append(documentID: "w1/draft/bad", update: [0xFF, 0x01], userID: "x")
        let room = DocumentRoom(documentID: "w1/draft/bad", store: store)
        await #expect(throws: StoreError.self) { _ = try await room.subscribe(1) { _ in } }
        if case .refused(let code, _) = await room.apply(try StoreSuite.textUpdates(["a"], client: 1)[0], from: 1, userID: "e", role: .editor) {
            #expect(code == .storeUnavailable)
        } else {
            Issue.record("applied to a document that failed to load")
        }
    }

    @Test("idle rooms are unloaded after a flush; over the memory budget the least recently used go first, subscribers keep working")
    func unloading() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let metrics = ServerMetrics()
        let registry = RoomRegistry(store: store, metrics: metrics)
        // Three documents with content; document 0 is used last.
        var inboxes: [Inbox] = []
        for d in [2, 1, 0] {
            let room = await registry.room("w1/draft/m\(d)")
            let inbox = Inbox()
            inboxes.append(inbox)
            _ = try await room.subscribe(UInt64(10 + d)) { inbox.add($0) }
            for (i, u) in try StoreSuite.textUpdates(["a", "b", "c"], client: 100 + d).enumerated() {
                let r = await room.apply(u, from: 99, userID: "u", role: .editor)
                #expect(r.isAcked, "update \(i): \(r)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let perRoom = await registry.room("w1/draft/m0").residentBytes
        #expect(perRoom > 0)
        // Budget for about two rooms: only the least recently used (m2) is unloaded.
        let first = await registry.sweep(idleAfter: .seconds(3600), memoryBudget: perRoom * 2 + perRoom / 2)
        #expect(first.unloadedForBudget == 1 && first.removedIdle == 0, "\(first)")
        #expect(await registry.room("w1/draft/m2").isLoaded == false)
        #expect(await registry.room("w1/draft/m0").isLoaded == true)
        #expect(try await store.load(documentID: "w1/draft/m2").updates.isEmpty, "unloading flushed the log into a snapshot")
        // The unloaded room's subscriber still gets updates, and the content is intact.
        let m2 = await registry.room("w1/draft/m2")
        let more = try StoreSuite.textUpdates(["a", "b", "c", "d"], client: 102).last ?? []
        #expect(await m2.apply(more, from: 99, userID: "u", role: .editor).isAcked)
        let peer = Doc(clientID: 7)
        try peer.applyUpdate(try await m2.syncStep2(for: [0]))
        #expect(peer.getText("t").toString() == "abcd")
        #expect(inboxes[0].updates.count == 4, "the subscriber of the unloaded room got the later update")

        // Nobody subscribed and idle: rooms are dropped from the registry.
        for d in 0..<3 { await registry.leave("w1/draft/m\(d)", connection: UInt64(10 + d)) }
        let idle = await registry.sweep(idleAfter: .zero, memoryBudget: .max)
        #expect(idle.removedIdle == 3 && idle.residentBytes == 0, "\(idle)")
        #expect(await registry.count == 0)
        let scrape = metrics.exposition()
        #expect(scrape.contains("nest_open_documents 0"), "\(scrape)")
        #expect(scrape.contains("nest_resident_bytes 0"), "\(scrape)")
        #expect(scrape.contains("nest_rooms_unloaded_total 4"), "\(scrape)")
        #expect(scrape.contains("nest_updates_total 10"), "\(scrape)")
    }

    @Test("an update waiting for a missing dependency is stored when acked: a restart loses nothing")
    func pendingUpdateIsStored() async throws {
        let (store, path) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let updates = try StoreSuite.textUpdates(["first ", "second"], client: 31)
        let room = DocumentRoom(documentID: "w1/draft/p", store: store)
        // The second update arrives first: it depends on the first.
        #expect(await room.apply(updates[1], from: 1, userID: "u", role: .editor).isAcked)
        #expect(try await store.load(documentID: "w1/draft/p").updates.count == 1, "the acked pending update was not stored")
        let restarted = DocumentRoom(documentID: "w1/draft/p", store: try SQLiteDocumentStore(path: path))
        #expect(await restarted.apply(updates[0], from: 1, userID: "u", role: .editor).isAcked)
        let peer = Doc(clientID: 8)
        try peer.applyUpdate(try await restarted.syncStep2(for: [0]))
        #expect(peer.getText("t").toString() == "first second")
    }

    @Test("a busy room folds its log into a snapshot while updates keep arriving: memory stays near the document's size and a restart loses nothing")
    func busyRoomCompacts() async throws {
        let (store, path) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/busy", store: store, compactionMinimumBytes: 512)
        // Two writers typing one character per update, as editors send them.
        let words = (0..<300).map { "w\($0) " }
        let a = try StoreSuite.textUpdates(words, client: 41)
        let b = try StoreSuite.textUpdates(words.map { $0.uppercased() }, client: 42)
        var peak = 0
        for i in 0..<words.count {
            for u in [a[i], b[i]] {
                guard case .acked = await room.apply(u, from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
            }
            // A compaction awaited now and then, as unloading does, while background ones run too.
            if i % 97 == 0 { try await room.compact() }
            peak = max(peak, await room.residentBytes)
        }
        let stored = try await store.load(documentID: "w1/draft/busy")
        #expect(stored.snapshot != nil, "no compaction ran")
        #expect(stored.updates.count < 2 * words.count / 2, "the store's log was not folded: \(stored.updates.count) updates")
        let total = (a + b).reduce(0) { $0 + $1.count }
        let full = try await room.syncStep2(for: [0])
        // Held: a snapshot plus at most the threshold (the larger of 512 bytes and the snapshot) of log.
        #expect(peak < total / 2, "resident \(peak) bytes for \(total) bytes of updates")
        let expected = Doc(clientID: 1)
        for u in a + b { try expected.applyUpdate(u) }
        let fromRoom = Doc(clientID: 2)
        try fromRoom.applyUpdate(full)
        #expect(fromRoom.getText("t").toString() == expected.getText("t").toString())
        let restarted = DocumentRoom(documentID: "w1/draft/busy", store: try SQLiteDocumentStore(path: path))
        let reloaded = Doc(clientID: 3)
        try reloaded.applyUpdate(try await restarted.syncStep2(for: [0]))
        #expect(reloaded.getText("t").toString() == expected.getText("t").toString())
    }
}

extension ApplyResult {
    var isAcked: Bool { if case .acked = self { true } else { false } }
}
