import Testing
import Foundation
import CRDT
import NIOCore
import Synchronization
import SyncProtocol
@testable import SyncServer

@Suite("shared sync step 2 frames")
struct SharedSyncStep2Tests {
    /// Frames as the y-websocket endpoint makes them, counting how many were made.
    final class Framer: Sendable {
        let made = Atomic<Int>(0)
        func frame(_ update: [UInt8]) -> ByteBuffer {
            made.add(1, ordering: .relaxed)
            return ServerFrame.binary(YWebSocketMessage.syncStep2(update: update).encoded())
        }
    }

    /// The text a joiner gets from a y-websocket sync step 2 frame.
    static func text(of frame: ByteBuffer) throws -> String {
        var f = frame
        // Header: 0x82, then a 7-bit length, or 126 + UInt16, or 127 + UInt64.
        _ = f.readInteger(as: UInt8.self)
        switch f.readInteger(as: UInt8.self) {
        case 126: _ = f.readInteger(as: UInt16.self)
        case 127: _ = f.readInteger(as: UInt64.self)
        default: break
        }
        guard case .syncStep2(let update) = try YWebSocketMessage(decoding: Array(buffer: f)) else { throw StoreError(.corrupt, "not sync step 2") }
        let doc = Doc(clientID: 77)
        try doc.applyUpdate(update)
        return doc.getText("t").toString()
    }

    static func storage(_ b: ByteBuffer) -> UnsafeRawPointer? { b.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) } }

    @Test("joiners with nothing share one frame per version; an update, an unload or a failed commit makes a new one")
    func sharedPerVersion() async throws {
        let (sqlite, _) = try SQLiteStoreTests.freshStore()
        let store = InstrumentedStore(sqlite)
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/join", store: store)
        let updates = try StoreSuite.textUpdates(["spring ", "colours", " now", " lost"], client: 21)
        for u in updates.prefix(2) {
            guard case .acked = await room.apply(u, from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        }
        let framer = Framer()

        let first = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        let second = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        #expect(framer.made.load(ordering: .relaxed) == 1)
        #expect(Self.storage(first) == Self.storage(second), "the second joiner got a copy")
        #expect(try Self.text(of: first) == "spring colours")
        // The frame holds the whole update: what syncStep2 hands out, framed.
        #expect(Array(buffer: first) == Array(buffer: ServerFrame.binary(YWebSocketMessage.syncStep2(update: try await room.syncStep2(for: [0])).encoded())))
        let withFrame = await room.residentBytes
        #expect(withFrame >= first.readableBytes)

        // Frames still asked for stay; once joins stop, the sweep's release frees them and the next joiner makes one again.
        #expect(await room.releaseSharedFrames(unusedFor: .seconds(60)) == 0)
        #expect(await room.releaseSharedFrames(unusedFor: .zero) == withFrame - (await room.residentBytes))
        #expect(await room.residentBytes == withFrame - first.readableBytes)
        let again = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        #expect(framer.made.load(ordering: .relaxed) == 2)
        #expect(Array(buffer: again) == Array(buffer: first))
        #expect(await room.residentBytes == withFrame)
        framer.made.store(1, ordering: .relaxed)

        // A peer that has something gets its own diff, never the shared frame.
        let partial = Doc(clientID: 78)
        try partial.applyUpdate(updates[0])
        let diff = try await room.syncStep2Frame(for: partial.encodeStateVector(), .yjs, frame: framer.frame)
        #expect(framer.made.load(ordering: .relaxed) == 2)
        #expect(diff.readableBytes < first.readableBytes)
        // The other endpoint frames its own.
        _ = try await room.syncStep2Frame(for: [0], .nest, frame: { NestSyncConnection.syncStep2Frame("w1/draft/join", $0) })
        #expect(await room.residentBytes > withFrame)

        // A committed update: the next joiner gets a new frame with it.
        guard case .acked = await room.apply(updates[2], from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        let third = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        #expect(framer.made.load(ordering: .relaxed) == 3)
        #expect(try Self.text(of: third) == "spring colours now")

        // A failed commit: the update is refused, and no joiner is handed a frame that has it.
        _ = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        store.failAppends.store(true, ordering: .relaxed)
        if case .acked = await room.apply(updates[3], from: 1, userID: "e", role: .editor) { Issue.record("acked without a commit") }
        store.failAppends.store(false, ordering: .relaxed)
        let afterFailure = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        #expect(try Self.text(of: afterFailure) == "spring colours now")

        // Unloading frees the frames with the rest.
        #expect(try await room.unload() > 0)
        #expect(await room.residentBytes == 0)
        let reloaded = try await room.syncStep2Frame(for: [0], .yjs, frame: framer.frame)
        #expect(try Self.text(of: reloaded) == "spring colours now")
        #expect(Self.storage(reloaded) != Self.storage(third))
    }

    @Test("a subscriber added with a shared frame misses nothing committed after it")
    func subscribeWithFrame() async throws {
        let (store, _) = try SQLiteStoreTests.freshStore()
        try await store.migrate()
        let room = DocumentRoom(documentID: "w1/draft/sub", store: store)
        let updates = try StoreSuite.textUpdates(["a", "b"], client: 22)
        guard case .acked = await room.apply(updates[0], from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        let framer = Framer()
        let inbox = Inbox()
        let (step2, vector) = try await room.subscribe(5, stateVector: [0], .yjs, frame: framer.frame) { inbox.add($0) }
        #expect(try Self.text(of: step2) == "a")
        #expect(try decodeStateVector(vector) == [22: 1])
        guard case .acked = await room.apply(updates[1], from: 1, userID: "e", role: .editor) else { Issue.record("refused"); return }
        #expect(inbox.updates == [updates[1]])
    }
}
