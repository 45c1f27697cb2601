import NIOCore
import Synchronization

/// The last committed update of a room as each endpoint encodes it, keyed by
/// server sequence: a room fanning an update out to fifty peers encodes and
/// copies it once per endpoint, and every peer sends the same buffer.
final class FanoutFrames: Sendable {
    enum Endpoint {
        case yjs, nest
    }

    private struct Slots {
        var yjs: (seq: Int, buffer: ByteBuffer)?
        var nest: (seq: Int, buffer: ByteBuffer)?
    }

    private let slots = Mutex(Slots())

    /// The frame of update `seq` for `endpoint` (see ``ServerFrame``), its payload made by `encode` on the first call.
    func buffer(_ endpoint: Endpoint, seq: Int, encode: () -> [UInt8]) -> ByteBuffer {
        slots.withLock { s in
            switch endpoint {
            case .yjs:
                if let c = s.yjs, c.seq == seq { return c.buffer }
                let b = ServerFrame.binary(encode())
                s.yjs = (seq, b)
                return b
            case .nest:
                if let c = s.nest, c.seq == seq { return c.buffer }
                let b = ServerFrame.binary(encode())
                s.nest = (seq, b)
                return b
            }
        }
    }
}
