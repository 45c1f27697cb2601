import GRDB

extension SQLiteDocumentStore: ProjectionStore {
    public func replaceProjections(_ projections: [DocumentProjection]) async throws(StoreError) -> [Bool] {
        try await write("projection") { db in try projections.map { try Self.replace($0, db) } }
    }

    private static func replace(_ p: DocumentProjection, _ db: GRDB.Database) throws -> Bool {
        if let stored = try Int.fetchOne(db, sql: "SELECT version FROM projected_documents WHERE doc_id = ?", arguments: [p.documentID]),
           stored > p.version { return false }
        for table in ["drafts", "calendar_entries", "ai_requests"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE doc_id = ?", arguments: [p.documentID])
        }
        try db.execute(sql: """
            INSERT INTO projected_documents (doc_id, workspace, version) VALUES (?, ?, ?)
            ON CONFLICT(doc_id) DO UPDATE SET version = excluded.version
            """, arguments: [p.documentID, p.workspace, p.version])
        for d in p.drafts {
            try db.execute(sql: "INSERT INTO drafts (doc_id, workspace, draft_id, title, status, platforms, updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [d.documentID, d.workspace, d.draftID, d.title, d.status, d.platforms.joined(separator: ","), d.updatedSeq])
        }
        // One calendar per workspace, so an entry id is unique within its workspace.
        for e in p.calendarEntries {
            try db.execute(sql: """
                INSERT INTO calendar_entries (workspace, entry_id, doc_id, draft, platform, due_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(workspace, entry_id) DO UPDATE SET doc_id = excluded.doc_id, draft = excluded.draft, platform = excluded.platform,
                    due_at = excluded.due_at, status = excluded.status
                """, arguments: [e.workspace, e.entryID, p.documentID, e.draft, e.platform, e.dueAt, e.status])
        }
        for r in p.aiRequests {
            try db.execute(sql: "INSERT INTO ai_requests (doc_id, request_id, workspace, kind, status, priority) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [r.documentID, r.requestID, r.workspace, r.kind, r.status, r.priority])
        }
        return true
}

    public func projection(documentID: String) async throws(StoreError) -> DocumentProjection? {
        try await read("projection") { db in try Self.projection(db, documentID) }
    }

    public func projections(workspace: String?) async throws(StoreError) -> [DocumentProjection] {
        try await read("projections") { db in
            let ids = try String.fetchAll(
                db, sql: "SELECT doc_id FROM projected_documents WHERE ? IS NULL OR workspace = ? ORDER BY doc_id", arguments: [workspace, workspace])
            return try ids.compactMap { try Self.projection(db, $0) }
        }
    }

    private static func projection(_ db: GRDB.Database, _ id: String) throws -> DocumentProjection? {
        guard let head = try Row.fetchOne(db, sql: "SELECT workspace, version FROM projected_documents WHERE doc_id = ?", arguments: [id]) else { return nil }
        let drafts = try Row.fetchAll(db, sql: "SELECT * FROM drafts WHERE doc_id = ?", arguments: [id]).map { r in
            DraftRow(documentID: r["doc_id"], workspace: r["workspace"], draftID: r["draft_id"], title: r["title"], status: r["status"],
                     platforms: (r["platforms"] as String).split(separator: ",").map(String.init), updatedSeq: r["updated_seq"])
        }
        let entries = try Row.fetchAll(db, sql: "SELECT * FROM calendar_entries WHERE doc_id = ?", arguments: [id]).map { r in
            CalendarEntryRow(workspace: r["workspace"], entryID: r["entry_id"], draft: r["draft"], platform: r["platform"], dueAt: r["due_at"], status: r["status"])
        }
        let requests = try Row.fetchAll(db, sql: "SELECT * FROM ai_requests WHERE doc_id = ?", arguments: [id]).map { r in
            AIRequestRow(documentID: r["doc_id"], requestID: r["request_id"], workspace: r["workspace"], kind: r["kind"], status: r["status"],
                         priority: r["priority"])
        }
        return DocumentProjection(documentID: id, workspace: head["workspace"], version: head["version"], drafts: drafts,
                                  calendarEntries: entries, aiRequests: requests)
    }

    public func clearProjections(workspace: String?) async throws(StoreError) {
        try await write("clear projections") { db in
            for table in ["drafts", "calendar_entries", "ai_requests", "projected_documents"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE ? IS NULL OR workspace = ?", arguments: [workspace, workspace])
            }
        }
    }

    public func documentIDs(workspace: String?) async throws(StoreError) -> [String] {
        try await read("document ids") { db in
            guard let ws = workspace else { return try String.fetchAll(db, sql: "SELECT doc_id FROM documents ORDER BY doc_id") }
            return try String.fetchAll(db, sql: "SELECT doc_id FROM documents WHERE doc_id >= ? AND doc_id < ? ORDER BY doc_id", arguments: [ws + "/", ws + "0"])
        }
    }
}
