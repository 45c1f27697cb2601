/// A draft as the jobs query it (table `drafts`).
public struct DraftRow: Sendable, Equatable, Codable {
    public var documentID: String
    public var workspace: String
    public var draftID: String
    public var title: String
    public var status: String
    /// Platform names, sorted.
    public var platforms: [String]
    /// The document's server sequence this row was made from: rebuilding
    /// from the documents gives the same value, which a wall-clock time would not.
    public var updatedSeq: Int

    public init(documentID: String, workspace: String, draftID: String, title: String, status: String, platforms: [String], updatedSeq: Int) {
        self.documentID = documentID
        self.workspace = workspace
        self.draftID = draftID
        self.title = title
        self.status = status
        self.platforms = platforms
        self.updatedSeq = updatedSeq
    }
}

/// One calendar entry (table `calendar_entries`), its due time in UTC.
public struct CalendarEntryRow: Sendable, Equatable, Codable {
    public var workspace: String
    public var entryID: String
    /// The draft's document name.
    public var draft: String
    public var platform: String
    /// Milliseconds since 1970 (UTC).
    public var dueAt: Int64
    public var status: String

    public init(workspace: String, entryID: String, draft: String, platform: String, dueAt: Int64, status: String) {
        self.workspace = workspace
        self.entryID = entryID
        self.draft = draft
        self.platform = platform
        self.dueAt = dueAt
        self.status = status
    }
}

/// One AI request of a draft (table `ai_requests`).
public struct AIRequestRow: Sendable, Equatable, Codable {
    public var documentID: String
    public var requestID: String
    public var workspace: String
    public var kind: String
    public var status: String
    /// `normal`, or `low`: may wait for the provider's off-peak window.
    public var priority: String

    public init(documentID: String, requestID: String, workspace: String, kind: String, status: String, priority: String = "normal") {
        self.documentID = documentID
        self.requestID = requestID
        self.workspace = workspace
        self.kind = kind
        self.status = status
        self.priority = priority
    }
}

/// Everything one document contributes to the projections, at one version.
public struct DocumentProjection: Sendable, Equatable, Codable {
    public var documentID: String
    public var workspace: String
    /// The document's server sequence the rows were made from.
    public var version: Int
    public var drafts: [DraftRow]
    public var calendarEntries: [CalendarEntryRow]
    public var aiRequests: [AIRequestRow]

    public init(documentID: String, workspace: String, version: Int, drafts: [DraftRow] = [], calendarEntries: [CalendarEntryRow] = [],
                aiRequests: [AIRequestRow] = []) {
        self.documentID = documentID
        self.workspace = workspace
        self.version = version
        self.drafts = drafts
        self.calendarEntries = calendarEntries.sorted { $0.entryID < $1.entryID }
        self.aiRequests = aiRequests.sorted { $0.requestID < $1.requestID }
    }
}
