import Testing
import Foundation
import CRDT
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import SyncProtocol
import TestHarness

/// Messages of megabytes over real sockets: a writer sends a large document
/// in one message (as one frame, or as many 16 KB fragments) and closes at
/// once; the server still handles what arrived before the close, and a
/// joiner then receives the whole document in one message.
@Suite("large messages", .serialized, .timeLimit(.minutes(2)))
struct LargeMessageTests {
    /// Made once for both cases: typing it takes seconds in a debug build.
    static let twoMegabytes = Result { try bigUpdate(kilobytes: 2048) }

    static func bigUpdate(kilobytes: Int) throws -> (update: [UInt8], length: Int) {
        let doc = Doc(clientID: 90)
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        // Typed in about 2,000 chunks: the server's cleanup merges them into one struct.
        let chunk = String(repeating: "Spring colours for everyone. ", count: 35)
        while doc.getText("body").length < kilobytes * 1024 { try doc.getText("body").insert(doc.getText("body").length, chunk) }
        return (try Updates.merge(updates), doc.getText("body").length)
    }

    /// Joins and returns the length of the document's `body` text.
    static func joinedLength(_ url: String) async throws -> Int {
        let length = Mutex(-1)
        _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 26), logger: Logger(label: "joiner")) { inbound, outbound, _ in
            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.syncStep1(stateVector: [0]).encoded())))
            for try await frame in inbound.messages(maxSize: 1 << 26) {
                guard case .binary(let b) = frame, case .syncStep2(let u) = try YWebSocketMessage(decoding: Array(buffer: b)) else { continue }
                let joined = Doc(clientID: 92)
                try joined.applyUpdate(u)
                length.withLock { $0 = joined.getText("body").length }
                break
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        return length.withLock { $0 }
    }

    @Test("a 2 MB update sent to /v1/yjs in one frame or in 16 KB fragments, then a close: a joiner receives it whole", arguments: [1 << 26, 1 << 14])
    func largeUpdateOverYjs(writerFrameSize: Int) async throws {
        let server = try ServerProcess()
        let alice = try await server.token("alice", workspace: "w1")
        try await server.start()
        defer { server.stop() }
        let (update, length) = try Self.twoMegabytes.get()
        let url = "ws://127.0.0.1:\(server.port)/v1/yjs/w1/draft/big\(writerFrameSize)?token=\(alice)"
        _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: writerFrameSize), logger: Logger(label: "writer")) { _, outbound, _ in
            try await outbound.write(.binary(ByteBuffer(bytes: YWebSocketMessage.update(update).encoded())))
            try await outbound.close(.normalClosure, reason: nil)
        }
        // The writer's message is handled after its close frame was answered: poll until it is in.
        var seen = -1
        for _ in 0..<60 where seen != length {
            seen = try await Self.joinedLength(url)
            if seen != length { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(seen == length)
    }
}
