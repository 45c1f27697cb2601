import HummingbirdWebSocket
import NIOCore
import Prometheus

extension WebSocketOutboundWriter {
    /// Writes every queued message to the socket, counting the bytes, until
    /// the queue finishes. Both endpoints drain their queue this way after the
    /// reader stops, so an error message goes out before the close frame.
    func drain(_ queue: AsyncStream<[UInt8]>, countingIn metrics: ServerMetrics) async {
        for await message in queue {
            metrics.bytesOut.increment(by: Int64(message.count))
            try? await write(.binary(ByteBuffer(bytes: message)))
        }
    }
}
