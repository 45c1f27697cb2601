import CRDT
import Foundation
@testable import SyncClient
import SyncProtocol
import Testing

/// The session against server messages in orders a real server produces
/// under load: another client's broadcast can still be on its way when this
/// client's ack, or a catalog whose cursor already counts that update, arrives.
/// The test plays the server with real protocol messages.
@Suite("sync session: message order and refusals")
struct SessionOrderingTests {
    let name = "w1/draft/live"

    /// What the session wrote, decoded.
    final class Sent: @unchecked Sendable {
        var messages: [NestMessage] = []
    }

    func session(_ store: LocalStore, _ sent: Sent, mode: SyncMode = .once) -> SyncSession {
        let profile = Profile(server: "http://127.0.0.1:1", token: "t", user: "alice")
        return SyncSession(store: store, profile: profile, options: SyncOptions(mode: mode)) { bytes in
            sent.messages.append(try NestMessage(decoding: bytes))
        }
    }

    /// A stored copy of "one" at server sequence 5, plus a pending local edit
    /// (returned) that the server's copy does not have yet.
    func storeWithPendingEdit() throws -> (LocalStore, server: Doc, edit: [UInt8]) {
        let store = try LocalStore(directory: tempDirectory("ordering"))
        let server = Doc(clientID: 1)
        try server.getText("caption").insert(0, "one")
        try store.commitRemote(name, updates: [try server.encodeStateAsUpdate()], serverSeq: 5)
        let local = try store.load(name)
        var edit: [UInt8] = []
        local.onUpdate { u, _ in edit = u }
        try local.getText("caption").insert(3, " two")
        try store.commitLocal(name, update: edit)
        return (store, server, edit)
    }

    func welcome() -> NestMessage {
        .welcome(version: NestMessage.version, userID: "alice", workspaces: [WorkspaceMembership(workspaceID: "w1", role: .editor)],
                 limits: ConnectionLimits(maxMessageBytes: 1 << 20, maxDocuments: 100, updatesPerSecond: 50), sessionID: "1")
    }

    @Test("a catalog that counts an update not yet received makes the session ask for it before it ends")
    func catalogAheadOfBroadcast() async throws {
        let (store, server, _) = try storeWithPendingEdit()
        let sent = Sent()
        let s = session(store, sent)
        try await s.start()
        #expect(try await !s.receive(welcome().encoded()))
        #expect(try await !s.receive(NestMessage.catalog(cursor: 5, entries: []).encoded()))
        guard case .subscribe(let states)? = sent.messages.last, states.map(\.documentID) == [name] else {
            Issue.record("the pending document is not subscribed: \(sent.messages)")
            return
        }
        #expect(try await !s.receive(NestMessage.syncStep2(documentID: name, update: try server.encodeStateAsUpdate(since: states[0].stateVector)).encoded()))
        #expect(try await !s.receive(NestMessage.syncStep1(documentID: name, stateVector: server.encodeStateVector()).encoded()))
        guard case .update(_, let clientSeq, let update)? = sent.messages.last else {
            Issue.record("the pending edit was not sent: \(sent.messages)")
            return
        }
        try server.applyUpdate(update)
        // Bob's update is committed at 6 and on its way to this client; ours is acked at 7.
        let bobSide = Doc(clientID: 2)
        try bobSide.applyUpdate(try server.encodeStateAsUpdate())
        var bobUpdate: [UInt8] = []
        bobSide.onUpdate { u, _ in bobUpdate = u }
        try bobSide.getText("caption").insert(0, "Bob: ")
        #expect(try await !s.receive(NestMessage.ack(documentID: name, clientSeq: clientSeq, serverSeq: 7).encoded()))
        #expect(try store.serverSeq(name) == 5, "an ack says nothing about updates still on their way")
        guard case .catalogRequest(let cursor)? = sent.messages.last else {
            Issue.record("no final catalog round after the ack: \(sent.messages)")
            return
        }
        #expect(cursor == 5)
        // The final catalog's cursor counts Bob's update, which has not arrived.
        let finished = try await s.receive(NestMessage.catalog(cursor: 7, entries: [CatalogEntry(documentID: name, serverSeq: 7)]).encoded())
        #expect(!finished, "the session ended with an update it never received, behind a cursor that skips it")
        guard case .syncStep1(let doc, let sv)? = sent.messages.last, doc == name else {
            Issue.record("the document was not asked for what it lacks: \(sent.messages.last.map { "\($0)" } ?? "nothing")")
            return
        }
        try server.applyUpdate(bobUpdate)
        #expect(try await s.receive(NestMessage.syncStep2(documentID: name, update: try server.encodeStateAsUpdate(since: sv)).encoded()))
        #expect(try store.load(name).getText("caption").toString() == "Bob: one two")
        #expect(try store.serverSeq(name) == 7, "the answer covers the catalog it followed")
        #expect(s.expectedStep2.isEmpty)
    }

    @Test("a broadcast does not raise the stored server sequence; a watch session's catalog round does, once it has asked")
    func broadcastDoesNotMoveTheMark() async throws {
        let (store, server, edit) = try storeWithPendingEdit()
        try server.applyUpdate(edit)
        try store.acknowledge(name, through: .max)
        let sent = Sent()
        let s = session(store, sent, mode: .watch)
        try await s.start()
        _ = try await s.receive(welcome().encoded())
        _ = try await s.receive(NestMessage.catalog(cursor: 5, entries: []).encoded())
        guard case .subscribe(let states)? = sent.messages.last else {
            Issue.record("watch mode did not subscribe the stored document: \(sent.messages)")
            return
        }
        _ = try await s.receive(NestMessage.syncStep2(documentID: name, update: try server.encodeStateAsUpdate(since: states[0].stateVector)).encoded())
        _ = try await s.receive(NestMessage.syncStep1(documentID: name, stateVector: server.encodeStateVector()).encoded())
        // Update 8 arrives, update 7 is still on its way.
        try server.getText("caption").insert(0, "[7]")
        let mid = server.encodeStateVector()
        try server.getText("caption").insert(0, "[8]")
        let eight = try server.encodeStateAsUpdate(since: mid)
        _ = try await s.receive(NestMessage.broadcast(documentID: name, serverSeq: 8, update: eight).encoded())
        #expect(try store.serverSeq(name) == 5)
        let asked = sent.messages.count
        _ = try await s.receive(NestMessage.catalog(cursor: 8, entries: [CatalogEntry(documentID: name, serverSeq: 8)]).encoded())
        guard sent.messages.count == asked + 1, case .syncStep1(_, let sv) = sent.messages[asked] else {
            Issue.record("the catalog round did not ask for what the copy lacks: \(sent.messages.suffix(2))")
            return
        }
        _ = try await s.receive(NestMessage.syncStep2(documentID: name, update: try server.encodeStateAsUpdate(since: sv)).encoded())
        #expect(try store.load(name).getText("caption").toString() == "[8][7]one two")
        #expect(try store.serverSeq(name) == 8)
    }

    @Test("watch mode subscribes again to a document the server could not load, and never to one it forbids")
    func watchRetriesPassingFailures() async throws {
        let (store, server, edit) = try storeWithPendingEdit()
        try server.applyUpdate(edit)
        try store.acknowledge(name, through: .max)
        let other = "w2/draft/secret"
        try store.commitRemote(other, updates: [try server.encodeStateAsUpdate()], serverSeq: 3)
        let sent = Sent()
        let s = session(store, sent, mode: .watch)
        s.resubscribeDelay = 0
        try await s.start()
        _ = try await s.receive(welcome().encoded())
        _ = try await s.receive(NestMessage.catalog(cursor: 5, entries: []).encoded())
        func subscribes() -> [String] {
            sent.messages.flatMap { m -> [String] in if case .subscribe(let states) = m { states.map(\.documentID) } else { [] } }
        }
        #expect(Set(subscribes()) == [name, other])
        _ = try await s.receive(NestMessage.error(code: .storeUnavailable, text: "document unavailable", documentID: name).encoded())
        _ = try await s.receive(NestMessage.error(code: .forbidden, text: "cannot subscribe", documentID: other).encoded())
        _ = try await s.tick()
        _ = try await s.tick()
        #expect(subscribes().filter { $0 == name }.count == 2, "the unavailable document is tried again: \(subscribes())")
        #expect(subscribes().filter { $0 == other }.count == 1, "the forbidden one is not: \(subscribes())")
        #expect(s.resubscribeFailures[name] == 1)
        _ = try await s.receive(NestMessage.syncStep2(documentID: name, update: [0, 0]).encoded())
        #expect(s.resubscribeFailures[name] == nil && s.subscribed.contains(name))
    }
}
