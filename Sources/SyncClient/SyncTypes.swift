import Foundation

/// How long a sync runs.
public enum SyncMode: Sendable {
    /// One round: send every pending update, fetch what changed, stop when all is acked.
    case once
    /// Stay connected: relay local edits as they are made and apply remote ones live, reconnecting as needed.
    case watch
}

/// Where a sync is, for progress display.
public struct SyncProgress: Sendable, Equatable {
    public var documentsDone: Int
    public var documentsTotal: Int
    public var pendingUpdates: Int
}

/// What the client is doing, as an app would show it.
public enum SyncStatus: Sendable, Equatable {
    case offline(reason: String)
    case connecting(attempt: Int)
    case syncing(SyncProgress)
    case synced
}

/// A problem with one document during a sync (the others go on).
public struct DocumentProblem: Sendable, Equatable {
    public var document: String
    public var code: String
    public var text: String
}

/// What one sync did.
public struct SyncReport: Sendable, Equatable {
    /// Documents whose state was exchanged.
    public var documentsSynced = 0
    /// Documents that received remote content.
    public var documentsChanged = 0
    /// Remote updates applied (step 2 answers and live broadcasts).
    public var remoteUpdates = 0
    /// Update messages the server acknowledged.
    public var updatesAcked = 0
    /// Local edits (outbox entries) now known to be committed on the server.
    public var editsAcked = 0
    /// Concurrent overwrites found and written to conflict logs.
    public var conflictsRecorded = 0
    /// Local updates the server refused for good in this sync.
    public var refused: [DocumentProblem] = []
    /// Documents the server would not sync (e.g. no access).
    public var documentProblems: [DocumentProblem] = []
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Local edits still waiting for an ack when the sync ended.
    public var pendingAfter = 0
    /// Whether everything pending was acknowledged and every changed document fetched.
    public var complete = false

    public init() {}
}

/// Settings and callbacks of a sync.
public struct SyncOptions: Sendable {
    public var mode: SyncMode
    /// For `.once`: give up (with `complete == false`) after this many seconds.
    public var timeout: Double
    /// For `.once`: connection attempts before reporting the server unreachable.
    public var attempts: Int
    /// For `.watch`: how often to ask the catalog for documents created elsewhere.
    public var catalogInterval: Double
    public var clientName: String
    /// Exchange state vectors for every local document instead of only those
    /// the catalog names (repairs a damaged cursor; the benchmark's naive baseline).
    public var fullResync = false
    public var onStatus: @Sendable (SyncStatus) -> Void
    /// A document received remote content (name).
    public var onRemoteChange: @Sendable (String) -> Void
    /// A server event: kind, document, JSON payload.
    public var onEvent: @Sendable (String, String, String) -> Void

    public init(
        mode: SyncMode = .once, timeout: Double = 120, attempts: Int = 3, catalogInterval: Double = 5, clientName: String = "nest/0.1.0",
        onStatus: @escaping @Sendable (SyncStatus) -> Void = { _ in },
        onRemoteChange: @escaping @Sendable (String) -> Void = { _ in },
        onEvent: @escaping @Sendable (String, String, String) -> Void = { _, _, _ in }
    ) {
        self.mode = mode
        self.timeout = timeout
        self.attempts = attempts
        self.catalogInterval = catalogInterval
        self.clientName = clientName
        self.onStatus = onStatus
        self.onRemoteChange = onRemoteChange
        self.onEvent = onEvent
    }
}
