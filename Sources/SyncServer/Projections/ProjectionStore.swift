/// Relational projections of the typed documents, in the server's store:
/// what jobs query instead of loading documents (drafts by status, calendar
/// entries by due time, AI requests). Each document's rows are replaced as a
/// whole, and only by a newer version of it: a rebuild that finishes after a
/// later one never puts older rows back.
public protocol ProjectionStore: Sendable {
    /// Replaces the rows each projection's document contributes, unless rows
    /// of a newer version are stored, in one transaction; returns, for each,
    /// whether it replaced them.
    func replaceProjections(_ projections: [DocumentProjection]) async throws(StoreError) -> [Bool]

    /// The rows of one document as stored (nil when it was never projected).
    func projection(documentID: String) async throws(StoreError) -> DocumentProjection?

    /// Every projected document of `workspace` (all when nil), by document id.
    func projections(workspace: String?) async throws(StoreError) -> [DocumentProjection]

    /// Deletes the projections of `workspace` (all when nil), before a rebuild.
    func clearProjections(workspace: String?) async throws(StoreError)

    /// The ids of the stored documents of `workspace` (all when nil).
    func documentIDs(workspace: String?) async throws(StoreError) -> [String]
}

extension ProjectionStore {
    /// Replaces the rows of one document (see ``replaceProjections(_:)``).
    public func replaceProjection(_ projection: DocumentProjection) async throws(StoreError) -> Bool {
        try await replaceProjections([projection]).first ?? false
    }
}

/// The projection tables, the same on both stores.
enum ProjectionSchema {
    static let sqlite = """
        CREATE TABLE projected_documents (doc_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, version INTEGER NOT NULL);
        CREATE INDEX projected_documents_ws ON projected_documents(workspace);
        CREATE TABLE drafts (
            doc_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, draft_id TEXT NOT NULL, title TEXT NOT NULL,
            status TEXT NOT NULL, platforms TEXT NOT NULL, updated_seq INTEGER NOT NULL);
        CREATE INDEX drafts_ws_status ON drafts(workspace, status);
        CREATE TABLE calendar_entries (
            workspace TEXT NOT NULL, entry_id TEXT NOT NULL, doc_id TEXT NOT NULL, draft TEXT NOT NULL, platform TEXT NOT NULL,
            due_at INTEGER NOT NULL, status TEXT NOT NULL, PRIMARY KEY (workspace, entry_id));
        CREATE INDEX calendar_entries_due ON calendar_entries(due_at) WHERE status = 'scheduled';
        CREATE TABLE ai_requests (
            doc_id TEXT NOT NULL, request_id TEXT NOT NULL, workspace TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            priority TEXT NOT NULL, PRIMARY KEY (doc_id, request_id));
        CREATE INDEX ai_requests_status ON ai_requests(status);
        """

    static let postgres = [
        "CREATE TABLE IF NOT EXISTS projected_documents (doc_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS projected_documents_ws ON projected_documents(workspace)",
        """
        CREATE TABLE IF NOT EXISTS drafts (
            doc_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, draft_id TEXT NOT NULL, title TEXT NOT NULL,
            status TEXT NOT NULL, platforms TEXT NOT NULL, updated_seq BIGINT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS drafts_ws_status ON drafts(workspace, status)",
        """
        CREATE TABLE IF NOT EXISTS calendar_entries (
            workspace TEXT NOT NULL, entry_id TEXT NOT NULL, doc_id TEXT NOT NULL, draft TEXT NOT NULL, platform TEXT NOT NULL,
            due_at BIGINT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (workspace, entry_id))
        """,
        "CREATE INDEX IF NOT EXISTS calendar_entries_due ON calendar_entries(due_at) WHERE status = 'scheduled'",
        """
        CREATE TABLE IF NOT EXISTS ai_requests (
            doc_id TEXT NOT NULL, request_id TEXT NOT NULL, workspace TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            priority TEXT NOT NULL, PRIMARY KEY (doc_id, request_id))
        """,
        "CREATE INDEX IF NOT EXISTS ai_requests_status ON ai_requests(status)",
    ]
}
