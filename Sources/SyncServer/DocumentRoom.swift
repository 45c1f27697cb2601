import Prometheus
import CRDT
import NIOCore
public import SyncProtocol

/// Identifies one connection (or any other writer) inside the server.
public typealias ConnectionID = UInt64

/// What a room sends to a subscriber.
public enum RoomEvent: Sendable {
    /// An update from someone else, relayed once validated, before its
    /// commit (which only the sender's ack waits for). `version` names it
    /// within the room, so that its frame is made once for all subscribers.
    case update([UInt8], version: Int)
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

/// One live document: loaded from the store on first use, validates updates,
/// commits each one before acknowledging it, and fans out to subscribers.
///
/// The document is held as its encoded updates (`EncodedDocument`), not as a
/// `Doc`: a relay needs to validate, store and forward updates and answer
/// state vectors, and a loaded `Doc` costs several times the bytes. Updates
/// are validated in full before anything changes, so one bad client never
/// damages the document others edit. When the updates held since the last
/// snapshot outgrow it, a `Doc` built off the actor folds them into a new
/// snapshot (garbage-collected, neighbours merged) in the store and in memory.
public actor DocumentRoom {
    public let documentID: String
    private let store: any DocumentStore
    private var state: EncodedDocument?
    /// Bumped whenever `state` is dropped, so that a compaction that finishes
    /// after a reload leaves the reloaded state alone.
    private var generation = 0
    /// The compaction under way, if any.
    private var compaction: Task<Result<Int, StoreError>, Never>?
    private(set) var lastSeq = 0
    private var subscribers: [ConnectionID: @Sendable (RoomEvent) -> Void] = [:]
    /// Sync step 2 for an empty state vector while a compaction runs (which
    /// keeps the updates from being replaced by their merge), computed once
    /// per document version and dropped when the next update makes it stale.
    private var fullStateCache: (seq: Int, bytes: [UInt8])?
    /// Changes whenever what `state` holds changes (an update added, the
    /// state dropped or loaded), not when its updates are merged or compacted.
    private var version = 0
    /// Sync step 2 for a joiner with nothing, as each endpoint frames it, for
    /// `version`: three hundred clients joining a 2 MB document share one
    /// frame instead of the server encoding and copying 2 MB for each. A
    /// frame holds the document a second time, so the sweep releases it once
    /// the joins are over (``releaseSharedFrames(unusedFor:)``).
    private var fullStateFrames: [FanoutFrames.Endpoint: (version: Int, frame: ByteBuffer, used: ContinuousClock.Instant)] = [:]
    private let metrics: ServerMetrics
    /// When the room was last used, for least-recently-used unloading.
    public private(set) var lastUsed = ContinuousClock.now
    /// Updates in the store's log since its snapshot, and their bytes.
    private var unflushed = 0
    private var unflushedBytes = 0
    private var snapshotBytes = 0
    /// Log bytes past which a busy room compacts without waiting to be
    /// unloaded: the larger of this and the snapshot's size.
    private let compactionMinimumBytes: Int
    /// Told of each commit, after it (must not block: it runs on the room's actor).
    private let onCommit: CommitObserver
    /// Relayed updates as the endpoints encode them, shared by all recipients.
    nonisolated let fanout = FanoutFrames()

    /// Memory the loaded document keeps: its updates, their range tables and
    /// the shared sync step 2; 0 when unloaded.
    public var residentBytes: Int {
        guard let state else { return 0 }
        return state.estimatedBytes + (fullStateCache?.bytes.count ?? 0) + fullStateFrames.values.reduce(0) { $0 + $1.frame.readableBytes }
    }

    /// Runs a change of the memory estimate and moves the gauge by the difference.
    private func accounting(_ change: () -> Void) {
        let before = residentBytes
        change()
        metrics.residentBytes.increment(by: Double(residentBytes - before))
    }

    /// - Parameter compactionMinimumBytes: log bytes held in memory before a
    ///   busy room folds them into a snapshot (at least the snapshot's size).
    /// - Parameter onCommit: told of each commit of this document, after it.
    public init(documentID: String, store: any DocumentStore, metrics: ServerMetrics = ServerMetrics(),
                compactionMinimumBytes: Int = 64 << 10, onCommit: @escaping CommitObserver = { _, _, _ in }) {
        self.documentID = documentID
        self.store = store
        self.metrics = metrics
        self.compactionMinimumBytes = compactionMinimumBytes
        self.onCommit = onCommit
    }

    /// Whether the document is in memory.
    public var isLoaded: Bool { state != nil }

    /// Drops the document from memory (subscribers stay; the next use loads
    /// it again). The log is first folded into a snapshot, so the reload is
    /// one read. Returns the bytes freed.
    @discardableResult
    public func unload() async throws(StoreError) -> Int {
        guard state != nil else { return 0 }
        if unflushed > 0 { try await compact() }
        // Another caller may have used the room while the snapshot was written: keep it then.
        guard state != nil, unflushed == 0 else { return 0 }
        let freed = residentBytes
        drop()
        metrics.roomsUnloaded.increment()
        return freed
    }

    /// Forgets the loaded state (unload, or memory that holds what the store does not).
    private func drop() {
        guard state != nil else { return }
        accounting {
            state = nil
            fullStateCache = nil
            fullStateFrames = [:]
        }
        version += 1
        generation += 1
        metrics.openDocuments.decrement()
    }

    /// Loads the document. A load failure is an error, never an empty document.
    /// Returns nothing on purpose: callers read `state` in place, because a
    /// copy alive while the state is appended to would copy every update held.
    private func load() async throws(StoreError) {
        lastUsed = ContinuousClock.now
        if state != nil { return }
        let started = ContinuousClock.now
        let stored = try await store.load(documentID: documentID)
        metrics.storeDone(since: started)
        var d = EncodedDocument()
        do {
            if let snapshot = stored.snapshot { try d.load(snapshot) }
            for u in stored.updates { try d.load(u.update) }
        } catch {
            throw StoreError(.corrupt, "document \(documentID) does not decode: \(error)")
        }
        // Reentrancy: another caller may have loaded meanwhile; keep the first.
        if state != nil { return }
        accounting { state = d }
        version += 1
        unflushed = stored.updates.count
        unflushedBytes = stored.updates.reduce(0) { $0 + $1.update.count }
        snapshotBytes = stored.snapshot?.count ?? 0
        lastSeq = stored.lastSeq
        metrics.openDocuments.increment()
    }

    /// Adds a subscriber; returns sync step 2 for a peer with `stateVector`
    /// as a whole frame made by `frame` (see ``syncStep2Frame(for:_:frame:)``)
    /// and the room's own state vector. Nothing accepted between the two is
    /// missed: the subscriber is added with no suspension after step 2 is made.
    func subscribe(
        _ connection: ConnectionID, stateVector: [UInt8], _ endpoint: FanoutFrames.Endpoint, frame: @Sendable ([UInt8]) -> ByteBuffer,
        send: @escaping @Sendable (RoomEvent) -> Void
    ) async throws(StoreError) -> (syncStep2: ByteBuffer, stateVector: [UInt8]) {
        let step2 = try await syncStep2Frame(for: stateVector, endpoint, frame: frame)
        subscribers[connection] = send
        return (step2, encodeStateVector(state?.stateVector ?? [:]))
    }

    /// Adds a subscriber that asks for what it lacks later (a y-websocket
    /// peer sends its own sync step 1); returns the room's state vector.
    public func subscribe(_ connection: ConnectionID, send: @escaping @Sendable (RoomEvent) -> Void) async throws(StoreError) -> [UInt8] {
        try await load()
        guard let state else { throw StoreError(.unavailable, "document \(documentID) was unloaded") }
        subscribers[connection] = send
        return encodeStateVector(state.stateVector)
    }

    /// Sync step 2 for a peer with `stateVector`, as a whole frame made by
    /// `frame` from the update. The frame for a peer with nothing is made once
    /// per version of the document and shared by every such joiner (a frame
    /// is never modified once written), so a join storm costs one encoding.
    func syncStep2Frame(for stateVector: [UInt8], _ endpoint: FanoutFrames.Endpoint, frame: @Sendable ([UInt8]) -> ByteBuffer)
        async throws(StoreError) -> ByteBuffer
    {
        let everything = stateVector == [0] || (try? decodeStateVector(stateVector)) == nil
        if everything, state != nil, let shared = fullStateFrames[endpoint], shared.version == version {
            lastUsed = ContinuousClock.now
            fullStateFrames[endpoint]?.used = lastUsed
            return shared.frame
        }
        let update = try await syncStep2(for: stateVector)
        // No suspension since the update was made: it is the state of `version`.
        let made = frame(update)
        if everything { accounting { fullStateFrames[endpoint] = (version, made, ContinuousClock.now) } }
        return made
    }

    /// Drops the shared sync step 2 frames no joiner asked for in `unusedFor`;
    /// returns the bytes freed.
    @discardableResult
    func releaseSharedFrames(unusedFor: Duration) -> Int {
        let now = ContinuousClock.now
        let before = residentBytes
        accounting { fullStateFrames = fullStateFrames.filter { now - $0.value.used < unusedFor } }
        return before - residentBytes
    }

    /// What a peer with `stateVector` lacks.
    public func syncStep2(for stateVector: [UInt8]) async throws(StoreError) -> [UInt8] {
        try await load()
        guard let count = state?.updates.count else { throw StoreError(.unavailable, "document \(documentID) was unloaded") }
        do {
            if stateVector != [0], let sv = try? decodeStateVector(stateVector) { return try state?.diff(since: sv) ?? [] }
            // An empty or malformed state vector: everything, shared by every such joiner of this version.
            if let c = fullStateCache, c.seq == lastSeq { return c.bytes }
            if count == 1, let only = state?.updates.first { return only }
            let bytes = try state?.merged() ?? []
            if compaction == nil {
                // The merged update replaces those it merges: later joiners get it as it is,
                // and memory holds the document once.
                accounting { state?.replaceFirst(count, with: bytes) }
                return state?.updates.first ?? bytes
            }
            // A compaction will replace the updates it read: keep the merge beside them until then.
            accounting { fullStateCache = (lastSeq, bytes) }
            return bytes
        } catch {
            // Every update held was validated when it was added or loaded.
            throw StoreError(.corrupt, "document \(documentID) does not merge: \(error)")
        }
    }

    public func unsubscribe(_ connection: ConnectionID) {
        subscribers[connection] = nil
    }

    public var subscriberCount: Int { subscribers.count }

    /// Applies a client's update: refused if the role cannot write or the
    /// bytes are not a valid update; otherwise fanned out to the other
    /// subscribers at once, then committed, then acknowledged (the result).
    /// An update that adds nothing is acknowledged, not stored.
    public func apply(_ update: [UInt8], from connection: ConnectionID, userID: String, role: Role) async -> ApplyResult {
        guard role.canWrite else { return .refused(.readOnly, "role \(role) cannot edit \(documentID)") }
        do { try await load() } catch { return .refused(.storeUnavailable, "cannot load \(documentID)") }
        let addition: EncodedDocument.Addition
        do {
            guard let a = try state?.addition(of: update) else { return .refused(.storeUnavailable, "cannot load \(documentID)") }
            addition = a
        } catch {
            return .refused(.malformedUpdate, "\(error)")
        }
        // Structs or deletions the room already holds (a resend): acked, not stored.
        // An update whose dependencies have not arrived adds its structs all
        // the same, so it is stored: an ack must never promise what a restart loses.
        guard !addition.isEmpty else { return .acked(serverSeq: lastSeq) }
        // Held before the commit, so that a compaction running meanwhile folds it in
        // (the store drops the log up to the sequence it saw, which may include this one).
        accounting {
            state?.append(update, addition)
            fullStateCache = nil
            fullStateFrames = [:]
        }
        version += 1
        // Relayed before the commit: the others' latency does not wait for the
        // store. Should the commit fail, the sender is refused and sends the
        // update again; the others applying it twice changes nothing.
        let relayed = version
        for (id, send) in subscribers where id != connection { send(.update(update, version: relayed)) }
        let seq: Int
        do {
            let started = ContinuousClock.now
            seq = try await store.append(documentID: documentID, update: update, userID: userID)
            metrics.storeDone(since: started)
        } catch {
            // Memory now holds what the store does not: reload on next use.
            drop()
            return .refused(.storeUnavailable, "commit failed: \(error.message)")
        }
        lastSeq = max(lastSeq, seq)
        unflushed += 1
        unflushedBytes += update.count
        metrics.updatesCommitted.increment()
        onCommit(documentID, seq, userID)
        if compaction == nil, unflushedBytes > max(snapshotBytes, compactionMinimumBytes) {
            compaction = Task { await self.compactOnce() }
        }
        return .acked(serverSeq: seq)
    }

    /// Relays an awareness update to the other subscribers.
    public func relayAwareness(_ update: [UInt8], from connection: ConnectionID) {
        for (id, send) in subscribers where id != connection { send(.awareness(update)) }
    }

    /// Folds the log into a snapshot, in the store and in memory
    /// (compaction); returns the sequence covered. Compactions run one at a
    /// time: each replaces the updates it read, which another would move.
    @discardableResult
    public func compact() async throws(StoreError) -> Int {
        while let running = compaction { _ = await running.value }
        let task = Task { await self.compactOnce() }
        compaction = task
        return try await task.value.get()
    }

    private func compactOnce() async -> Result<Int, StoreError> {
        defer { compaction = nil }
        do {
            try await load()
            let through = lastSeq
            guard through > 0, let updates = state?.updates else { return .success(0) }
            let (gen, folded) = (generation, updates.count)
            let (count, bytes) = (unflushed, unflushedBytes)
            // The first append while this runs copies the list of updates once (the snapshot reads them).
            let (snapshot, sv) = try await Self.snapshot(of: updates, documentID: documentID)
            let started = ContinuousClock.now
            try await store.compact(documentID: documentID, throughSeq: through, snapshot: snapshot, stateVector: sv)
            metrics.storeDone(since: started)
            // Updates appended while the snapshot was made stay, in the log and in memory.
            unflushed = max(0, unflushed - count)
            unflushedBytes = max(0, unflushedBytes - bytes)
            snapshotBytes = snapshot.count
            if generation == gen {
                accounting { state?.replaceFirst(folded, with: snapshot) }
            }
            return .success(through)
        } catch {
            return .failure(error)
        }
    }

    /// Integrates `updates` into a `Doc` and encodes it: garbage collection
    /// and merged neighbours make the snapshot smaller than the updates.
    /// Runs off the room's actor, which keeps serving meanwhile.
    private nonisolated static func snapshot(of updates: [[UInt8]], documentID: String)
        async throws(StoreError) -> (snapshot: [UInt8], stateVector: [UInt8])
    {
        let doc = Doc()
        do {
            for u in updates { try doc.applyUpdate(u) }
        } catch {
            throw StoreError(.corrupt, "document \(documentID) does not decode: \(error)")
        }
        return (doc.encodeStateAsUpdate(since: [:]), doc.encodeStateVector())
    }
}
