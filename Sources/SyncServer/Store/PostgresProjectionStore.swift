import PostgresNIO

extension PostgresDocumentStore: ProjectionStore {
    public func replaceProjections(_ projections: [DocumentProjection]) async throws(StoreError) -> [Bool] {
        try await run("projection") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                var out = [Bool](repeating: false, count: projections.count)
                // In document order, so that two batches (two nodes) lock the rows they share in the same order.
                for (i, p) in projections.enumerated().sorted(by: { $0.element.documentID < $1.element.documentID }) {
                    out[i] = try await replace(p, conn)
                }
                return out
            }
        }
    }

    private func replace(_ p: DocumentProjection, _ conn: PostgresConnection) async throws -> Bool {
        let version = Int64(p.version)
        // Takes the document's row lock first: two rebuilds of one document replace its rows one after the other.
        let upsert = try await conn.query("""
            INSERT INTO projected_documents (doc_id, workspace, version) VALUES (\(p.documentID), \(p.workspace), \(version))
            ON CONFLICT (doc_id) DO UPDATE SET version = EXCLUDED.version WHERE projected_documents.version <= EXCLUDED.version
            RETURNING version
            """, logger: logger)
        var replaced = false
        for try await _ in upsert.decode(Int64.self) { replaced = true }
        guard replaced else { return false }
        try await conn.query("DELETE FROM drafts WHERE doc_id = \(p.documentID)", logger: logger)
        try await conn.query("DELETE FROM calendar_entries WHERE doc_id = \(p.documentID)", logger: logger)
        try await conn.query("DELETE FROM ai_requests WHERE doc_id = \(p.documentID)", logger: logger)
        for d in p.drafts {
            try await conn.query("""
                INSERT INTO drafts (doc_id, workspace, draft_id, title, status, platforms, updated_seq)
                VALUES (\(d.documentID), \(d.workspace), \(d.draftID), \(d.title), \(d.status), \(d.platforms.joined(separator: ",")), \(Int64(d.updatedSeq)))
                """, logger: logger)
        }
        for e in p.calendarEntries {
            try await conn.query("""
                INSERT INTO calendar_entries (workspace, entry_id, doc_id, draft, platform, due_at, status)
                VALUES (\(e.workspace), \(e.entryID), \(p.documentID), \(e.draft), \(e.platform), \(e.dueAt), \(e.status))
                ON CONFLICT (workspace, entry_id) DO UPDATE SET doc_id = EXCLUDED.doc_id, draft = EXCLUDED.draft,
                    platform = EXCLUDED.platform, due_at = EXCLUDED.due_at, status = EXCLUDED.status
                """, logger: logger)
        }
        for r in p.aiRequests {
            try await conn.query("""
                INSERT INTO ai_requests (doc_id, request_id, workspace, kind, status, priority)
                VALUES (\(r.documentID), \(r.requestID), \(r.workspace), \(r.kind), \(r.status), \(r.priority))
                """, logger: logger)
        }
        return true
    }

    public func projection(documentID: String) async throws(StoreError) -> DocumentProjection? {
        try await run("projection") { [self] in try await read(documentID) }
    }

    public func projections(workspace: String?) async throws(StoreError) -> [DocumentProjection] {
        try await run("projections") { [self] in
            var ids: [String] = []
            for try await id in try await client.query("""
                SELECT doc_id FROM projected_documents WHERE \(workspace)::text IS NULL OR workspace = \(workspace)::text ORDER BY doc_id COLLATE "C"
                """, logger: logger).decode(String.self) { ids.append(id) }
            var out: [DocumentProjection] = []
            for id in ids { if let p = try await read(id) { out.append(p) } }
            return out
        }
    }

    private func read(_ id: String) async throws -> DocumentProjection? {
        var head: (String, Int64)?
        for try await row in try await client.query("SELECT workspace, version FROM projected_documents WHERE doc_id = \(id)", logger: logger)
            .decode((String, Int64).self) { head = row }
        guard let (workspace, version) = head else { return nil }
        var drafts: [DraftRow] = []
        for try await (doc, ws, draft, title, status, platforms, seq) in try await client.query(
            "SELECT doc_id, workspace, draft_id, title, status, platforms, updated_seq FROM drafts WHERE doc_id = \(id)", logger: logger)
            .decode((String, String, String, String, String, String, Int64).self) {
            drafts.append(DraftRow(documentID: doc, workspace: ws, draftID: draft, title: title, status: status,
                                   platforms: platforms.split(separator: ",").map(String.init), updatedSeq: Int(seq)))
        }
        var entries: [CalendarEntryRow] = []
        for try await (ws, entry, draft, platform, due, status) in try await client.query(
            "SELECT workspace, entry_id, draft, platform, due_at, status FROM calendar_entries WHERE doc_id = \(id)", logger: logger)
            .decode((String, String, String, String, Int64, String).self) {
            entries.append(CalendarEntryRow(workspace: ws, entryID: entry, draft: draft, platform: platform, dueAt: due, status: status))
        }
        var requests: [AIRequestRow] = []
        for try await (doc, request, ws, kind, status, priority) in try await client.query(
            "SELECT doc_id, request_id, workspace, kind, status, priority FROM ai_requests WHERE doc_id = \(id)", logger: logger)
            .decode((String, String, String, String, String, String).self) {
            requests.append(AIRequestRow(documentID: doc, requestID: request, workspace: ws, kind: kind, status: status, priority: priority))
        }
        return DocumentProjection(documentID: id, workspace: workspace, version: Int(version), drafts: drafts, calendarEntries: entries, aiRequests: requests)
    }

    public func clearProjections(workspace: String?) async throws(StoreError) {
        try await run("clear projections") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                for table in ["drafts", "calendar_entries", "ai_requests", "projected_documents"] {
                    try await conn.query("DELETE FROM \(unescaped: table) WHERE \(workspace)::text IS NULL OR workspace = \(workspace)::text", logger: logger)
                }
            }
        }
    }

    public func documentIDs(workspace: String?) async throws(StoreError) -> [String] {
        let (lower, upper) = (workspace.map { $0 + "/" } ?? "", workspace.map { $0 + "0" })
        return try await run("document ids") { [self] in
            var out: [String] = []
            for try await id in try await client.query("""
                SELECT doc_id FROM documents WHERE doc_id COLLATE "C" >= \(lower) AND (\(upper)::text IS NULL OR doc_id COLLATE "C" < \(upper)::text)
                ORDER BY doc_id COLLATE "C"
                """, logger: logger).decode(String.self) { out.append(id) }
            return out
        }
    }
}
