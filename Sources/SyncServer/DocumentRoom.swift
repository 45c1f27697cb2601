import Prometheus
import CRDT
public import SyncProtocol

/// Identifies one connection (or any other writer) inside the server.
public typealias ConnectionID = UInt64

/// What a room sends to a subscriber.
public enum RoomEvent: Sendable {
    /// An update committed by someone else, with its server sequence.
    case update([UInt8], serverSeq: Int)
    /// An awareness update relayed from another subscriber.
    case awareness([UInt8])
}

/// The outcome of an update sent to a room.
public enum ApplyResult: Sendable, Equatable {
    /// Committed (or already known) at this server sequence.
    case acked(serverSeq: Int)
    /// Not applied and not stored.
    case refused(ErrorCode, String)
}

/// One live document: loaded from the store on first use, applies updates,
/// commits each one before acknowledging it, and fans out to subscribers.
///
/// Updates are validated in full before anything changes (`Doc.applyUpdate`
/// refuses malformed bytes without side effects), so one bad client never
/// damages the document others edit.
public actor DocumentRoom {
    public let documentID: String
    private let store: any DocumentStore
    private var doc: Doc?
    private(set) var lastSeq = 0
    private var subscribers: [ConnectionID: @Sendable (RoomEvent) -> Void] = [:]
    /// Sync step 2 for an empty state vector, computed once per document
    /// version and dropped when the next update makes it stale (kept, it
    /// would double the memory of every document anyone ever joined).
    private var fullStateCache: (seq: Int, bytes: [UInt8])?
    private let metrics: ServerMetrics
    /// When the room was last used, for least-recently-used unloading.
    public private(set) var lastUsed = ContinuousClock.now
    /// Updates in the store's log since its snapshot, and their bytes.
    private var unflushed = 0
    private var unflushedBytes = 0
    private var snapshotBytes = 0
    /// Committed updates as the endpoints encode them, shared by all recipients.
    nonisolated let fanout = FanoutFrames()

    /// Estimated memory of the loaded document: the bytes of its stored state
    /// (snapshot and later updates); 0 when unloaded.
    public var residentBytes: Int { doc == nil ? 0 : snapshotBytes + unflushedBytes + (fullStateCache?.bytes.count ?? 0) }

    /// Runs a change of the memory estimate and moves the gauge by the difference.
    private func accounting(_ change: () -> Void) {
        let before = residentBytes
        change()
        metrics.residentBytes.increment(by: Double(residentBytes - before))
    }

    public init(documentID: String, store: any DocumentStore, metrics: ServerMetrics = ServerMetrics()) {
        self.documentID = documentID
        self.store = store
        self.metrics = metrics
    }

    /// Whether the document is in memory.
    public var isLoaded: Bool { doc != nil }

    /// Drops the document from memory (subscribers stay; the next use loads
    /// it again). The log is first folded into a snapshot, so the reload is
    /// one read. Returns the bytes freed.
    @discardableResult
    public func unload() async throws(StoreError) -> Int {
        guard doc != nil else { return 0 }
        if unflushed > 0 { try await compact() }
        // Another caller may have used the room while the snapshot was written: keep it then.
        guard doc != nil, unflushed == 0 else { return 0 }
        let freed = residentBytes
        accounting {
            doc = nil
            fullStateCache = nil
        }
        metrics.openDocuments.decrement()
        metrics.roomsUnloaded.increment()
        return freed
    }

    /// Loads the document. A load failure is an error, never an empty document.
    private func loaded() async throws(StoreError) -> Doc {
        lastUsed = ContinuousClock.now
        if let doc { return doc }
        let started = ContinuousClock.now
        let stored = try await store.load(documentID: documentID)
        metrics.storeDone(since: started)
        // A random client id, as Yjs servers use: the engine's own follow-up
        // edits (Yjs 13.6 formatting cleanup) must never reuse ids after a restart.
        let d = Doc()
        do {
            if let snapshot = stored.snapshot { try d.applyUpdate(snapshot) }
            for u in stored.updates { try d.applyUpdate(u.update) }
        } catch {
            throw StoreError(.corrupt, "document \(documentID) does not decode: \(error)")
        }
        // Reentrancy: another caller may have loaded meanwhile; keep the first.
        if let doc { return doc }
        let before = residentBytes
        doc = d
        unflushed = stored.updates.count
        unflushedBytes = stored.updates.reduce(0) { $0 + $1.update.count }
        snapshotBytes = stored.snapshot?.count ?? 0
        metrics.residentBytes.increment(by: Double(residentBytes - before))
        lastSeq = stored.lastSeq
        metrics.openDocuments.increment()
        return d
    }

    /// Adds a subscriber; returns the update that brings a peer with
    /// `stateVector` up to date and the room's own state vector.
    public func subscribe(_ connection: ConnectionID, stateVector: [UInt8], send: @escaping @Sendable (RoomEvent) -> Void)
        async throws(StoreError) -> (syncStep2: [UInt8], stateVector: [UInt8])
    {
        let d = try await loaded()
        subscribers[connection] = send
        return (try diff(d, stateVector), d.encodeStateVector())
    }

    /// What a peer with `stateVector` lacks.
    public func syncStep2(for stateVector: [UInt8]) async throws(StoreError) -> [UInt8] {
        try diff(try await loaded(), stateVector)
    }

    private func diff(_ d: Doc, _ stateVector: [UInt8]) throws(StoreError) -> [UInt8] {
        if stateVector == [0] {
            if let c = fullStateCache, c.seq == lastSeq { return c.bytes }
            let bytes = d.encodeStateAsUpdate(since: [:])
            accounting { fullStateCache = (lastSeq, bytes) }
            return bytes
        }
        do { return try d.encodeStateAsUpdate(since: stateVector) } catch {
            // A malformed state vector from a client: answer with everything.
            return d.encodeStateAsUpdate(since: [:])
        }
    }

    public func unsubscribe(_ connection: ConnectionID) {
        subscribers[connection] = nil
    }

    public var subscriberCount: Int { subscribers.count }

    /// Applies a client's update: refused if the role cannot write or the
    /// bytes are not a valid update; otherwise committed, then acknowledged
    /// and fanned out. An update that adds nothing is acknowledged, not stored.
    public func apply(_ update: [UInt8], from connection: ConnectionID, userID: String, role: Role) async -> ApplyResult {
        guard role.canWrite else { return .refused(.readOnly, "role \(role) cannot edit \(documentID)") }
        let d: Doc
        do { d = try await loaded() } catch { return .refused(.storeUnavailable, "cannot load \(documentID)") }
        // Whether the client's transaction changed anything. The bytes relayed
        // are the client's own (validated by the apply): re-encoding the
        // transaction would cost a full encode per update for the same content.
        var changed = false
        let token = d.onAfterTransaction { txn in if !txn.local && txn.changedDocument { changed = true } }
        defer { d.removeHandler(token) }
        do {
            try d.applyUpdate(update)
        } catch {
            return .refused(.malformedUpdate, "\(error)")
        }
        // An update whose dependencies have not arrived changes nothing visible
        // yet but is held as pending: it must be stored (and relayed) all the
        // same, or an ack would promise what a restart loses.
        guard changed || d.hasPending else { return .acked(serverSeq: lastSeq) }
        let change = update
        let seq: Int
        do {
            let started = ContinuousClock.now
            seq = try await store.append(documentID: documentID, update: update, userID: userID)
            metrics.storeDone(since: started)
        } catch {
            // Memory now holds what the store does not: reload on next use.
            if doc != nil {
                accounting {
                    doc = nil
                    fullStateCache = nil
                }
                metrics.openDocuments.decrement()
            }
            fullStateCache = nil
            return .refused(.storeUnavailable, "commit failed: \(error.message)")
        }
        lastSeq = max(lastSeq, seq)
        accounting {
            unflushed += 1
            unflushedBytes += update.count
            fullStateCache = nil
        }
        metrics.updatesCommitted.increment()
        for (id, send) in subscribers where id != connection { send(.update(change, serverSeq: seq)) }
        return .acked(serverSeq: seq)
    }

    /// Relays an awareness update to the other subscribers.
    public func relayAwareness(_ update: [UInt8], from connection: ConnectionID) {
        for (id, send) in subscribers where id != connection { send(.awareness(update)) }
    }

    /// Merges the log into a snapshot (compaction); returns the sequence covered.
    @discardableResult
    public func compact() async throws(StoreError) -> Int {
        let d = try await loaded()
        let through = lastSeq
        guard through > 0 else { return 0 }
        let snapshot = d.encodeStateAsUpdate(since: [:]), sv = d.encodeStateVector()
        let (count, bytes) = (unflushed, unflushedBytes)
        let started = ContinuousClock.now
        try await store.compact(documentID: documentID, throughSeq: through, snapshot: snapshot, stateVector: sv)
        metrics.storeDone(since: started)
        // Updates appended while the snapshot was written stay in the log.
        accounting {
            unflushed = max(0, unflushed - count)
            unflushedBytes = max(0, unflushedBytes - bytes)
            snapshotBytes = snapshot.count
        }
        return through
    }
}
