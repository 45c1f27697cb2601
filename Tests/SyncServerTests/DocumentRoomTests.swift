import Testing
import Foundation
import CRDT
import SyncProtocol
import SyncServer

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
        _ = try await room.subscribe(1, stateVector: [0]) { inboxA.add($0) }
        _ = try await room.subscribe(2, stateVector: [0]) { inboxB.add($0) }
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

    @Test("viewers, malformed updates and no-op updates change nothing in store or room")
    func refusals() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/b", store: store)
        let inbox = Inbox()
        _ = try await room.subscribe(2, stateVector: [0]) { inbox.add($0) }
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
        let (step2, _) = try await restarted.subscribe(9, stateVector: [0]) { _ in }
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
        await #expect(throws: StoreError.self) { _ = try await room.subscribe(1, stateVector: [0]) { _ in } }
        if case .refused(let code, _) = await room.apply(try StoreSuite.textUpdates(["a"], client: 1)[0], from: 1, userID: "e", role: .editor) {
            #expect(code == .storeUnavailable)
        } else {
            Issue.record("applied to a document that failed to load")
        }
    }

    @Test("document ids are validated")
    func documentIDs() {
        #expect(DocumentID("w1/draft/abc")?.kind == .draft)
        #expect(DocumentID("w1/calendar/main")?.workspace == "w1")
        for bad in ["", "w1/draft", "w1/post/x", "w1//x", "../draft/x", "w1/draft/a/b", "w 1/draft/x", "w1/draft/\u{e9}"] {
            #expect(DocumentID(bad) == nil, "\(bad)")
        }
    }
}
