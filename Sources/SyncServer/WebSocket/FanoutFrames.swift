import NIOCore
import Synchronization

/// The last update a room relayed, as each endpoint encodes it, keyed by the
/// room's version: a room fanning an update out to fifty peers encodes and
/// copies it once per endpoint, and every peer sends the same buffer.
final class FanoutFrames: Sendable {
    enum Endpoint {
        case yjs, nest
    }

    private struct Slots {
        var yjs: (version: Int, buffer: ByteBuffer)?
        var nest: (version: Int, buffer: ByteBuffer)?
    }

    private let slots = Mutex(Slots())

    /// The frame of the update relayed at room `version` for `endpoint` (see ``ServerFrame``), its payload made by `encode` on the first call.
    func buffer(_ endpoint: Endpoint, version: Int, encode: () -> [UInt8]) -> ByteBuffer {
        slots.withLock { s in
            switch endpoint {
            case .yjs:
                if let c = s.yjs, c.version == version { return c.buffer }
                let b = ServerFrame.binary(encode())
                s.yjs = (version, b)
                return b
            case .nest:
                if let c = s.nest, c.version == version { return c.buffer }
                let b = ServerFrame.binary(encode())
                s.nest = (version, b)
                return b
            }
        }
    }
}
