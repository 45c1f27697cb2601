import Testing
import NIOCore
import NIOEmbedded
import NIOWebSocket
@testable import SyncServer

@Suite("server frames")
struct ServerFrameTests {
    /// Decodes with NIO's own WebSocket frame decoder, the one peers' libraries mirror.
    static func decode(_ frame: ByteBuffer) throws -> [WebSocketFrame] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(frame)
        var frames: [WebSocketFrame] = []
        while let f = try channel.readInbound(as: WebSocketFrame.self) { frames.append(f) }
        _ = try channel.finish()
        return frames
    }

    @Test("binary frames of every length encoding decode to the payload: one final, unmasked frame", arguments: [0, 1, 125, 126, 127, 65_535, 65_536, 300_001])
    func binaryLengths(length: Int) throws {
        var rng = SplitMix(seed: UInt64(length) &+ 17)
        let payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let frames = try Self.decode(ServerFrame.binary(payload))
        #expect(frames.count == 1, "seed \(length)")
        guard let f = frames.first else { return }
        #expect(f.fin && f.opcode == .binary && f.maskKey == nil)
        #expect(Array(buffer: f.data) == payload, "seed \(length)")
    }

    @Test("frames written back to back split apart exactly")
    func backToBack() throws {
        var both = ServerFrame.binary([1, 2, 3])
        var second = ServerFrame.binary(Array(repeating: 9, count: 200))
        both.writeBuffer(&second)
        let frames = try Self.decode(both)
        #expect(frames.map { Array(buffer: $0.data) } == [[1, 2, 3], Array(repeating: 9, count: 200)])
    }
}

/// A small deterministic generator (SplitMix64) for test payloads.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
