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
    /// Sync step 2 for an empty state vector, computed once per document version.
    private var fullStateCache: (seq: Int, bytes: [UInt8])?

    public init(documentID: String, store: any DocumentStore) {
        self.documentID = documentID
        self.store = store
    }

    /// Loads the document. A load failure is an error, never an empty document.
    private func loaded() async throws(StoreError) -> Doc {
        if let doc { return doc }
        let stored = try await store.load(documentID: documentID)
        let d = Doc(clientID: 0)
        do {
            if let snapshot = stored.snapshot { try d.applyUpdate(snapshot) }
            for u in stored.updates { try d.applyUpdate(u.update) }
        } catch {
            throw StoreError(.corrupt, "document \(documentID) does not decode: \(error)")
        }
        // Reentrancy: another caller may have loaded meanwhile; keep the first.
        if let doc { return doc }
        doc = d
        lastSeq = stored.lastSeq
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
            fullStateCache = (lastSeq, bytes)
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
        var emitted: [UInt8]?
        let token = d.onUpdate { bytes, _ in emitted = bytes }
        defer { d.removeHandler(token) }
        do {
            try d.applyUpdate(update)
        } catch {
            return .refused(.malformedUpdate, "\(error)")
        }
        guard let change = emitted else { return .acked(serverSeq: lastSeq) }
        let seq: Int
        do {
            seq = try await store.append(documentID: documentID, update: update, userID: userID)
        } catch {
            // Memory now holds what the store does not: reload on next use.
            doc = nil
            fullStateCache = nil
            return .refused(.storeUnavailable, "commit failed: \(error.message)")
        }
        lastSeq = max(lastSeq, seq)
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
        try await store.compact(documentID: documentID, throughSeq: through, snapshot: d.encodeStateAsUpdate(since: [:]), stateVector: d.encodeStateVector())
        return through
    }
}
