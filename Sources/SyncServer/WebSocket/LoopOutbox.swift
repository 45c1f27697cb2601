import NIOCore
import NIOWebSocket
import Synchronization

/// Writes to the channels of one event loop, coalesced: messages posted from
/// other threads (a room fanning an update out to fifty peers) cross to the
/// loop in one hop, not one each, and each channel is flushed once per batch.
/// Everything sent to a peer goes through its loop's outbox, so the peer
/// receives it in the order it was posted.
final class LoopOutbox: Sendable {
    enum Item: Sendable {
        /// A whole frame, written below the frame encoder.
        case wire(NIOLoopBound<ChannelHandlerContext>, ByteBuffer)
        /// A close frame; the socket closes after `grace` unless the peer answers first.
        case close(any Channel, WebSocketFrame, grace: TimeAmount)
    }

    private struct Pending {
        var items: [Item] = []
        var scheduled = false
    }

    private let loop: any EventLoop
    private let pending = Mutex(Pending())

    init(loop: any EventLoop) { self.loop = loop }

    func post(_ item: Item) {
        let schedule = pending.withLock { p -> Bool in
            p.items.append(item)
            if p.scheduled { return false }
            p.scheduled = true
            return true
        }
        if schedule { loop.execute { self.run() } }
    }

    private func run() {
        let items = pending.withLock { p -> [Item] in
            p.scheduled = false
            var taken: [Item] = []
            swap(&taken, &p.items)
            return taken
        }
        var toFlush: [ChannelHandlerContext] = []
        var last: ObjectIdentifier?
        for item in items {
            switch item {
            case .wire(let context, let frame):
                let context = context.value
                context.write(NIOAny(frame), promise: nil)
                // Consecutive writes to one channel (a reply and its broadcast) share a flush.
                if last != ObjectIdentifier(context) {
                    toFlush.append(context)
                    last = ObjectIdentifier(context)
                }
            case .close(let channel, let frame, let grace) where grace == .zero:
                // The answer to the peer's close: nothing to wait for, and no timer per closing connection.
                channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
            case .close(let channel, let frame, let grace):
                channel.writeAndFlush(frame).whenComplete { _ in
                    channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
                }
            }
        }
        for context in toFlush { context.flush() }
    }
}

/// The outbox of each event loop, made on first use.
final class LoopOutboxes: Sendable {
    private let outboxes = Mutex<[ObjectIdentifier: LoopOutbox]>([:])

    func outbox(for loop: any EventLoop) -> LoopOutbox {
        outboxes.withLock { all in
            if let o = all[ObjectIdentifier(loop)] { return o }
            let o = LoopOutbox(loop: loop)
            all[ObjectIdentifier(loop)] = o
            return o
        }
    }
}
