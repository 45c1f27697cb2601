import NIOCore

/// WebSocket frames as the server sends them (RFC 6455 section 5.2: final,
/// unmasked), encoded whole into one buffer: a frame fanned out to many peers
/// is encoded once and written as it is, with no per-peer header buffer.
enum ServerFrame {
    /// A binary frame holding `payload`.
    static func binary(_ payload: [UInt8]) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.reserveCapacity(payload.count + 10)
        frame.writeInteger(UInt8(0x82))
        if payload.count < 126 {
            frame.writeInteger(UInt8(payload.count))
        } else if payload.count <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(payload.count))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(payload.count))
        }
        frame.writeBytes(payload)
        return frame
    }
}
