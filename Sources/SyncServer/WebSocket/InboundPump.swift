import NIOCore
import Synchronization

/// A data message received on a WebSocket connection.
enum PeerMessage: Sendable {
    case binary(ByteBuffer)
    case text(ByteBuffer)
}

/// What the server does with one WebSocket connection: set up before the
/// first message, handle messages one at a time in arrival order, clean up
/// once after the last.
///
/// The ``InboundPump`` calls these strictly one after another, never two at
/// once, so a session may keep mutable state without a lock.
protocol PeerSession: AnyObject, Sendable {
    /// Runs before any message is handled (authentication, admission,
    /// subscription). Returns why the connection must close, or nil.
    func start(_ peer: WebSocketPeer) async -> ConnectionClosed?
    /// Handles one message. Returns why the connection must close, or nil.
    func handle(_ message: PeerMessage, _ peer: WebSocketPeer) async -> ConnectionClosed?
    /// Runs exactly once, after the last call to `handle` (or after `start`).
    func finish() async
}

/// Feeds a connection's messages to its session in order, on a task that
/// exists only while there is work: an idle connection holds no task, so it
/// costs its socket and a few small objects instead of a suspended reader.
final class InboundPump: Sendable {
    private struct State {
        var queue = CircularBuffer<PeerMessage>(initialCapacity: 4)
        /// A drain task is running (or about to).
        var running = true
        /// The peer sent its last message: handle what is queued, then finish.
        var inputClosed = false
        /// The server is closing the connection: drop what is queued, then finish.
        var dropping = false
        var finished = false
        /// Reading from the socket was paused because the queue grew.
        var paused = false
        /// The session's `start` returned.
        var started = false
        /// Messages received so far.
        var received = 0
    }

    private enum Step {
        case handle(PeerMessage)
        case finish
        case idle
    }

    /// Above this many queued messages the socket is no longer read, so a
    /// client sending faster than its updates commit waits in TCP instead of
    /// in server memory; reading resumes below `resumeBelow`.
    static let pauseAt = 64
    static let resumeBelow = 16

    private let state = Mutex(State())
    private let session: any PeerSession
    /// Pauses (false) or resumes (true) reading from the socket.
    private let setReading: @Sendable (Bool) -> Void

    init(session: any PeerSession, setReading: @escaping @Sendable (Bool) -> Void) {
        self.session = session
        self.setReading = setReading
    }

    /// Runs the session's start, then whatever arrived meanwhile.
    func start(_ peer: WebSocketPeer) {
        Task {
            if let closed = await session.start(peer) { peer.close(closed) }
            state.withLock { $0.started = true }
            await drain(peer)
        }
    }

    /// For the log when a connection misbehaves: messages received and
    /// waiting, whether the session's start returned, whether a drain runs.
    var progress: String {
        state.withLock { s in "received \(s.received), queued \(s.queue.count), started \(s.started), draining \(s.running), paused \(s.paused)" }
    }

    /// Queues a message; starts a drain task when none runs.
    func enqueue(_ message: PeerMessage, _ peer: WebSocketPeer) {
        let (spawn, pause) = state.withLock { s -> (Bool, Bool) in
            guard !s.dropping, !s.inputClosed else { return (false, false) }
            s.received += 1
            s.queue.append(message)
            let pause = !s.paused && s.queue.count >= Self.pauseAt
            if pause { s.paused = true }
            if s.running { return (false, pause) }
            s.running = true
            return (true, pause)
        }
        if pause { setReading(false) }
        if spawn { Task { await drain(peer) } }
    }

    /// The peer will send nothing more: finish after what is queued.
    func closeInput(_ peer: WebSocketPeer) {
        wake(peer) { $0.inputClosed = true }
    }

    /// The server ends the connection: drop what is queued and finish.
    func drop(_ peer: WebSocketPeer) {
        wake(peer) { $0.dropping = true }
    }

    private func wake(_ peer: WebSocketPeer, _ change: (inout State) -> Void) {
        let spawn = state.withLock { s -> Bool in
            change(&s)
            if s.running || s.finished { return false }
            s.running = true
            return true
        }
        if spawn { Task { await drain(peer) } }
    }

    private func drain(_ peer: WebSocketPeer) async {
        while true {
            let (step, resume) = state.withLock { s -> (Step, Bool) in
                if s.dropping { s.queue.removeAll() }
                var resume = false
                if s.paused, s.queue.count < Self.resumeBelow, !s.dropping, !s.inputClosed {
                    s.paused = false
                    resume = true
                }
                if let next = s.queue.popFirst() { return (.handle(next), resume) }
                if (s.dropping || s.inputClosed) && !s.finished {
                    s.finished = true
                    return (.finish, resume)
                }
                s.running = false
                return (.idle, resume)
            }
            if resume { setReading(true) }
            switch step {
            case .handle(let message):
                if let closed = await session.handle(message, peer) { peer.close(closed) }
            case .finish:
                await session.finish()
                peer.finished()
                return
            case .idle:
                return
            }
        }
    }
}
