public import Foundation
public import Logging
import Model
public import ServiceLifecycle
import Synchronization

extension JobKind {
    /// Fans one notification for one user out to the user's devices (arguments: ``PushNotification``).
    public static let pushNotify = JobKind(rawValue: "push.notify")
    /// Sends one notification to one device (arguments: ``PushDeliveryArguments``).
    public static let pushDeliver = JobKind(rawValue: "push.deliver")
    /// The coalesced edits of a followed draft, for one user (arguments: ``EditsWindow``).
    public static let pushEdits = JobKind(rawValue: "push.edits")
}

/// A coalescing window of edits to one draft, for one follower.
public struct EditsWindow: Codable, Sendable, Equatable {
    public var userID: String
    public var documentID: String
    /// The first editor in the window.
    public var actor: String
    public var key: String
    public var opensAt: Int64
}

/// Turns what happens in documents into notification jobs: durable from the
/// moment they are enqueued, sent by whichever node's worker claims them.
public final class PushRelay: Service {
    private let store: any PushStore & JobStore
    private let wakeup: Wakeup
    private let logger: Logger
    private let now: @Sendable () -> Int64
    /// Edits to a followed draft within this many ms make one push.
    let editsWindow: Int64
    /// At most one silent "documents changed" push per device this often (Apple throttles more).
    let backgroundInterval: Int64
    /// (document, actor) pairs handled within the current window on this node: the store is asked once per window, not per keystroke.
    private let recentEdits = Mutex<[String: Int64]>([:])
    /// Edits handed over by rooms (which must not wait), handled by ``run()``.
    private let editStream: AsyncStream<(String, String)>
    private let edits: AsyncStream<(String, String)>.Continuation

    public init(store: any PushStore & JobStore, wakeup: Wakeup, editsWindow: Duration, backgroundInterval: Duration, logger: Logger,
         now: @escaping @Sendable () -> Int64 = { epochMillis(Date()) }) {
        self.store = store
        self.wakeup = wakeup
        self.logger = logger
        self.now = now
        self.editsWindow = Self.millis(editsWindow)
        self.backgroundInterval = Self.millis(backgroundInterval)
        // Bounded: under a flood the oldest edits are dropped, and they only ever
        // re-announce a window that the newer ones announce as well.
        (editStream, edits) = AsyncStream.makeStream(of: (String, String).self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// A commit (from a room, without waiting): queued for ``run()``.
    public func committed(documentID: String, userID: String) {
        guard userID != ServerDocumentWriter.userID, documentID.contains("/draft/") else { return }
        edits.yield((documentID, userID))
    }

    /// Handles the edits the rooms hand over until the service is stopped.
    public func run() async throws {
        await withGracefulShutdownHandler {
            for await (doc, user) in editStream { await edited(documentID: doc, by: user) }
        } onGracefulShutdown: { [edits] in
            edits.finish()
        }
    }

    public static func millis(_ d: Duration) -> Int64 { d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000 }

    /// Queues a notification for its user; `uniqueKey` makes a repeat (a rerun job) a no-op.
    public func notify(_ n: PushNotification, uniqueKey: String?) async throws(StoreError) {
        _ = try await store.enqueue(Self.job(n, uniqueKey: uniqueKey), now: now())
        wakeup.signal()
    }

    /// The `push.notify` job of a notification; one about no document (a test push) is filed under its user.
    public static func job(_ n: PushNotification, uniqueKey: String?) -> NewJob {
        let ws = (try? DocumentName(parsing: n.documentID))?.workspace ?? ""
        return NewJob(kind: .pushNotify, workspace: ws, documentID: n.documentID.isEmpty ? "user:\(n.userID)" : n.documentID, documentVersion: 0,
                      uniqueKey: uniqueKey, arguments: PushJSON.encode(n), maxAttempts: 5, priority: 0)
    }

    /// ``notify(_:uniqueKey:)`` for callers whose own work is done and cannot be
    /// retried for a notification's sake: a failure is logged.
    func notifyLogging(_ n: PushNotification, uniqueKey: String?) async {
        do { try await notify(n, uniqueKey: uniqueKey) } catch {
            logger.warning("notification not queued", metadata: ["event": "\(n.event)", "user": "\(n.userID)", "error": "\(error)"])
        }
    }

    /// A user committed an edit to a document. Drafts are followed by whoever
    /// edits them; the other followers get one push per window, and every
    /// member's devices a silent one (rate-limited) so that they sync early.
    func edited(documentID: String, by actor: String) async {
        guard actor != ServerDocumentWriter.userID, let name = try? DocumentName(parsing: documentID), name.kind == .draft else { return }
        let t = now()
        let fresh = recentEdits.withLock { recent -> Bool in
            let key = "\(documentID)\u{0}\(actor)"
            if let last = recent[key], last > t - editsWindow { return false }
            if recent.count > 10_000 { recent = recent.filter { $0.value > t - editsWindow } }
            recent[key] = t
            return true
        }
        guard fresh else { return }
        do {
            try await store.follow(documentID: documentID, userID: actor, now: t)
            for user in try await store.followers(documentID: documentID) where user != actor {
                let key = "edits:\(user):\(documentID)"
                let opensAt = try await store.openPushWindow(key: key, now: t, staleAfter: 2 * editsWindow)
                let window = EditsWindow(userID: user, documentID: documentID, actor: actor, key: key, opensAt: opensAt)
                // The same key for the same window: an edit racing the first (or a retry after a crash) finds the job there.
                _ = try await store.enqueue(NewJob(kind: .pushEdits, workspace: name.workspace, documentID: documentID, documentVersion: 0,
                                                   uniqueKey: "\(key):\(opensAt)", arguments: PushJSON.encode(window), maxAttempts: 5,
                                                   priority: 2, runAt: opensAt + editsWindow), now: t)
            }
        } catch {
            logger.warning("edit notification not queued", metadata: ["document": "\(documentID)", "error": "\(error)"])
        }
    }
}
