/// The open documents of one server: one ``DocumentRoom`` per document,
/// created on first use. ``sweep(idleAfter:memoryBudget:)`` (run every
/// couple of seconds by the server) unloads what is not needed: rooms nobody
/// has used for `idleAfter`, then — while the loaded documents together
/// exceed the memory budget — the least recently used ones, subscribed or
/// not (their subscribers stay; the next use loads the document again).
/// Every unload first folds the log into a snapshot.
public actor RoomRegistry {
    private let store: any DocumentStore
    private let metrics: ServerMetrics
    private let compactionMinimumBytes: Int
    private let onCommit: CommitObserver
    private var rooms: [String: DocumentRoom] = [:]
    /// When each room was last handed out, so a room just fetched by a
    /// connection that is about to subscribe is never dropped.
    private var handedOut: [String: ContinuousClock.Instant] = [:]

    /// - Parameters:
    ///   - compactionMinimumBytes: see ``DocumentRoom/init(documentID:store:metrics:compactionMinimumBytes:onCommit:)``.
    ///   - onCommit: told of every commit of every room (the projections follow it).
    public init(store: any DocumentStore, metrics: ServerMetrics = ServerMetrics(), compactionMinimumBytes: Int = 64 << 10,
                onCommit: @escaping CommitObserver = { _, _, _ in }) {
        self.store = store
        self.metrics = metrics
        self.compactionMinimumBytes = compactionMinimumBytes
        self.onCommit = onCommit
    }

    /// The room of `documentID`, created if needed.
    public func room(_ documentID: String) -> DocumentRoom {
        handedOut[documentID] = ContinuousClock.now
        if let r = rooms[documentID] { return r }
        let r = DocumentRoom(documentID: documentID, store: store, metrics: metrics, compactionMinimumBytes: compactionMinimumBytes, onCommit: onCommit)
        rooms[documentID] = r
        return r
    }

    /// Unsubscribes a connection; the room stays until the sweep finds it idle.
    public func leave(_ documentID: String, connection: ConnectionID) async {
        await rooms[documentID]?.unsubscribe(connection)
    }

    /// How long a room keeps the sync step 2 frame it shares with joiners after the last one asked for it.
    static let sharedFrameLifetime = Duration.seconds(5)

    /// Number of rooms (loaded or not).
    public var count: Int { rooms.count }

    /// What a sweep did.
    public struct SweepResult: Sendable, Equatable {
        public var removedIdle = 0
        public var unloadedForBudget = 0
        public var residentBytes = 0
    }

    /// Unloads idle rooms and, over `memoryBudget` bytes, the least recently used.
    @discardableResult
    public func sweep(idleAfter: Duration, memoryBudget: Int) async -> SweepResult {
        var result = SweepResult()
        let now = ContinuousClock.now
        var loaded: [(id: String, room: DocumentRoom, lastUsed: ContinuousClock.Instant, bytes: Int)] = []
        for (id, room) in rooms {
            let last = max(await room.lastUsed, handedOut[id] ?? now)
            if await room.subscriberCount == 0, now - last >= idleAfter {
                // A failed flush keeps the room: its updates are in the log either way.
                if (try? await room.unload()) != nil, await room.subscriberCount == 0, rooms[id] === room {
                    rooms[id] = nil
                    handedOut[id] = nil
                    result.removedIdle += 1
                }
                continue
            }
            guard await room.isLoaded else { continue }
            // A join storm's shared sync step 2 holds the document twice: kept only while joiners keep coming.
            await room.releaseSharedFrames(unusedFor: Self.sharedFrameLifetime)
            loaded.append((id, room, last, await room.residentBytes))
        }
        var total = loaded.reduce(0) { $0 + $1.bytes }
        for entry in loaded.sorted(by: { $0.lastUsed < $1.lastUsed }) where total > memoryBudget {
            if (try? await entry.room.unload()) != nil, await !entry.room.isLoaded {
                total -= entry.bytes
                result.unloadedForBudget += 1
            }
        }
        result.residentBytes = total
        return result
    }
}

/// Told of each commit of a document, after it and without suspending the
/// room: the document, its new sequence, and the user whose update it was.
public typealias CommitObserver = @Sendable (_ documentID: String, _ seq: Int, _ userID: String) -> Void
