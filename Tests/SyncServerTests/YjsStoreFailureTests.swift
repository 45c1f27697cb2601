import Testing
import Foundation
import CRDT
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import SyncProtocol
@testable import SyncServer

/// A stock Yjs peer never resends an update, so a commit that fails must not
/// leave its edit on the peer alone: the server closes the connection and the
/// peer, reconnecting, hands the update over again in its sync step 2.
@Suite("y-websocket peer and a failing store", .timeLimit(.minutes(2)))
struct YjsStoreFailureTests {
    static let text = "kept through a failed commit"

    /// The text of `t` in what the store holds for `documentID`.
    static func storedText(_ store: SQLiteDocumentStore, _ documentID: String) async throws -> String {
        let stored = try await store.load(documentID: documentID)
        let doc = Doc()
        if let snapshot = stored.snapshot { try doc.applyUpdate(snapshot) }
        for u in stored.updates { try doc.applyUpdate(u.update) }
        return doc.getText("t").toString()
    }

    @Test("a failed commit closes the peer with 1013 and stores nothing; reconnected, its sync step 2 is stored")
    func failedCommitClosesAndReconnectStores() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-yjs-store-failure-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sqlite = try SQLiteDocumentStore(path: dir + "/nest.sqlite")
        try await sqlite.migrate()
        try await sqlite.setMembership(workspaceID: "w1", userID: "ana", role: .editor)
        let store = InstrumentedStore(sqlite)
        let verifier = try await TokenVerifier(secret: "yjs-store-failure-test-secret-0123456789")
        let token = try await verifier.issue(user: "ana", ttl: 600)
        var config = ServerConfiguration()
        config.port = 0
        var logger = Logger(label: "nest-server")
        logger.logLevel = .critical
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let server = Task { [logger] in
            try await NestServerApp.serve(config, store: store, verifier: verifier, logger: logger, onListening: { portSink.yield($0) })
        }
        defer { server.cancel() }
        var listening = ports.makeAsyncIterator()
        let port = try #require(await listening.next())
        let documentID = "w1/draft/failing"
        let url = "ws://127.0.0.1:\(port)/v1/yjs/\(documentID)?token=\(token)"

        let doc = Doc(clientID: 77)
        try doc.getText("t").insert(0, Self.text)
        let edit = try doc.encodeStateAsUpdate()

        store.failAppends.store(true, ordering: .relaxed)
        let failed = try await WebSocketClient.connect(url: url, logger: Logger(label: "peer")) { inbound, outbound, _ in
            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.update(edit).encoded())))
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Should the server keep the connection open, the peer leaves after 10 s (a normal closure).
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    try await outbound.close(.normalClosure, reason: "the server kept the connection")
                }
                for try await _ in inbound.messages(maxSize: 1 << 20) {}
                group.cancelAll()
            }
        }
        let closed = try #require(failed, "the server must close the connection, not leave the edit unstored")
        #expect(UInt16(webSocketErrorCode: closed.closeCode) == 1013)
        #expect(closed.reason?.contains("store unavailable") == true)
        #expect(try await Self.storedText(sqlite, documentID) == "")

        store.failAppends.store(false, ordering: .relaxed)
        let serverVector = Mutex<[UInt8]?>(nil)
        _ = try await WebSocketClient.connect(url: url, logger: Logger(label: "peer")) { inbound, outbound, _ in
            // As the y-websocket provider does: answer the server's sync step 1 with what it lacks.
            for try await frame in inbound.messages(maxSize: 1 << 20) {
                guard case .binary(let b) = frame, case .syncStep1(let sv) = try YWebSocketMessage(decoding: Array(buffer: b)) else { continue }
                serverVector.withLock { $0 = sv }
                try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep2(update: edit).encoded())))
                break
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline, try await Self.storedText(sqlite, documentID) != Self.text {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        // The server did not claim the failed update: its state vector on reconnect is empty.
        let vector = try #require(serverVector.withLock { $0 })
        #expect(try decodeStateVector(vector).isEmpty)
        #expect(try await Self.storedText(sqlite, documentID) == Self.text)
    }
}
