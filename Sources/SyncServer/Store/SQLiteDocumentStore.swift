import Foundation
import GRDB
public import SyncProtocol

/// The embedded store: one SQLite file in WAL mode, used when no
/// `DATABASE_URL` is configured.
public final class SQLiteDocumentStore: DocumentStore {
    let pool: DatabasePool
    private let appends: StoreBatcher<AppendRequest, Int>

    /// Opens (creating if needed) the database at `path`.
    public init(path: String) throws(StoreError) {
        do {
            var config = Configuration()
            config.busyMode = .timeout(10)
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError(.unavailable, "cannot open \(path): \(error)")
        }
        appends = StoreBatcher(label: "nest.sqlite.commit") { [pool] group throws(StoreError) in try Self.commit(group, pool: pool) }
    }

    func write<T: Sendable>(_ what: String, _ body: @Sendable @escaping (GRDB.Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.write(body) } catch let e as StoreError { throw e } catch {
            throw StoreError(.unavailable, "\(what): \(error)")
        }
    }

    func read<T: Sendable>(_ what: String, _ body: @Sendable @escaping (GRDB.Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch let e as StoreError { throw e } catch {
            throw StoreError(.unavailable, "\(what): \(error)")
        }
    }

    public func migrate() async throws(StoreError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE documents (
                    doc_id TEXT PRIMARY KEY,
                    last_seq INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
                );
                CREATE INDEX documents_last_seq ON documents(last_seq);
                CREATE TABLE document_updates (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    doc_id TEXT NOT NULL,
                    update_data BLOB NOT NULL,
                    user_id TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
                );
                CREATE INDEX document_updates_doc ON document_updates(doc_id, seq);
                CREATE TABLE document_snapshots (
                    doc_id TEXT PRIMARY KEY,
                    upto_seq INTEGER NOT NULL,
                    state BLOB NOT NULL,
                    state_vector BLOB NOT NULL
                );
                CREATE TABLE memberships (
                    workspace_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    role INTEGER NOT NULL,
                    PRIMARY KEY (workspace_id, user_id)
                );
                CREATE INDEX memberships_user ON memberships(user_id);
                """)
        }
        migrator.registerMigration("v2-jobs-projections") { db in try db.execute(sql: JobSchema.sqlite + ProjectionSchema.sqlite) }
        migrator.registerMigration("v3-ai-usage") { db in try db.execute(sql: AIUsageSchema.sqlite) }
        migrator.registerMigration("v4-push") { db in try db.execute(sql: PushSchema.sqlite) }
        do { try migrator.migrate(pool) } catch {
            throw StoreError(.unavailable, "migration failed: \(error)")
        }
    }

    public func append(documentID: String, update: [UInt8], userID: String) async throws(StoreError) -> Int {
        guard !documentID.isEmpty else { throw StoreError(.invalidArgument, "empty document id") }
        return try await appends.submit(AppendRequest(documentID: documentID, update: Data(update), userID: userID))
    }

    /// One transaction for a group of appends (SQLite has one writer and syncs once per transaction).
    /// Blocking: runs on the group commit's own thread.
    private static func commit(_ group: [AppendRequest], pool: DatabasePool) throws(StoreError) -> [Int] {
        do {
            return try pool.write { db -> [Int] in
            var seqs: [Int] = []
            var latest: [String: Int] = [:]
            // Cached statements: parsing the SQL again for every commit was a
            // visible share of the server's CPU under load.
            let insert = try db.cachedStatement(sql: "INSERT INTO document_updates (doc_id, update_data, user_id) VALUES (?, ?, ?)")
            for r in group {
                try insert.execute(arguments: [r.documentID, r.update, r.userID])
                let seq = Int(db.lastInsertedRowID)
                seqs.append(seq)
                latest[r.documentID] = seq
            }
            let bump = try db.cachedStatement(sql: """
                INSERT INTO documents (doc_id, last_seq) VALUES (?, ?)
                ON CONFLICT(doc_id) DO UPDATE SET last_seq = excluded.last_seq
                """)
            for (doc, seq) in latest {
                try bump.execute(arguments: [doc, seq])
            }
            return seqs
            }
        } catch {
            throw StoreError(.unavailable, "append: \(error)")
        }
    }

    public func load(documentID: String) async throws(StoreError) -> StoredDocument {
        try await read("load") { db in
            var snapshot: [UInt8]?
            var snapshotSeq = 0
            if let row = try Row.fetchOne(db, sql: "SELECT upto_seq, state FROM document_snapshots WHERE doc_id = ?", arguments: [documentID]) {
                snapshotSeq = row["upto_seq"]
                let data: Data = row["state"]
                snapshot = [UInt8](data)
            }
            let rows = try Row.fetchAll(db, sql: "SELECT seq, update_data FROM document_updates WHERE doc_id = ? AND seq > ? ORDER BY seq",
                                        arguments: [documentID, snapshotSeq])
            let updates = rows.map { row -> StoredUpdate in
                let data: Data = row["update_data"]
                return StoredUpdate(seq: row["seq"], update: [UInt8](data))
            }
            return StoredDocument(snapshot: snapshot, snapshotSeq: snapshotSeq, updates: updates)
        }
    }

    public func compact(documentID: String, throughSeq: Int, snapshot: [UInt8], stateVector: [UInt8]) async throws(StoreError) {
        let state = Data(snapshot)
        let sv = Data(stateVector)
        try await write("compact") { db in
            let current = try Int.fetchOne(db, sql: "SELECT upto_seq FROM document_snapshots WHERE doc_id = ?", arguments: [documentID]) ?? 0
            // An older compaction finishing late must not replace a newer snapshot.
            guard throughSeq > current else { return }
            try db.execute(sql: """
                INSERT INTO document_snapshots (doc_id, upto_seq, state, state_vector) VALUES (?, ?, ?, ?)
                ON CONFLICT(doc_id) DO UPDATE SET upto_seq = excluded.upto_seq, state = excluded.state, state_vector = excluded.state_vector
                """, arguments: [documentID, throughSeq, state, sv])
            try db.execute(sql: "DELETE FROM document_updates WHERE doc_id = ? AND seq <= ?", arguments: [documentID, throughSeq])
        }
    }

    public func changedDocuments(since cursor: Int, workspaces: [String]) async throws(StoreError) -> (entries: [CatalogEntry], cursor: Int) {
        try await read("catalog") { db in
            // One read transaction: the entries and the new cursor see the same snapshot,
            // so an update committed meanwhile is either listed or above the cursor.
            var entries: [CatalogEntry] = []
            for ws in workspaces {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT doc_id, last_seq FROM documents WHERE last_seq > ? AND doc_id >= ? AND doc_id < ? ORDER BY last_seq
                    """, arguments: [cursor, ws + "/", ws + "0"])
                for row in rows {
                    entries.append(CatalogEntry(documentID: row["doc_id"], serverSeq: row["last_seq"]))
                }
            }
            let global = try Int.fetchOne(db, sql: "SELECT MAX(last_seq) FROM documents") ?? 0
            return (entries.sorted { $0.serverSeq < $1.serverSeq }, max(cursor, global))
        }
    }

    public func setMembership(workspaceID: String, userID: String, role: Role) async throws(StoreError) {
        guard !workspaceID.isEmpty, !userID.isEmpty else { throw StoreError(.invalidArgument, "empty workspace or user") }
        let r = role.rawValue
        try await write("set membership") { db in
            try db.execute(sql: """
                INSERT INTO memberships (workspace_id, user_id, role) VALUES (?, ?, ?)
                ON CONFLICT(workspace_id, user_id) DO UPDATE SET role = excluded.role
                """, arguments: [workspaceID, userID, r])
        }
    }

    @discardableResult
    public func removeMembership(workspaceID: String, userID: String) async throws(StoreError) -> Bool {
        try await write("remove membership") { db in
            try db.execute(sql: "DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", arguments: [workspaceID, userID])
            return db.changesCount > 0
        }
    }

    public func memberships(ofUsers userIDs: [String]) async throws(StoreError) -> [String: [WorkspaceMembership]] {
        guard !userIDs.isEmpty else { return [:] }
        let rows = try await read("memberships") { db in
            var out: [(String, String, Int)] = []
            // SQLite limits bound parameters per statement: ask in slices.
            for start in stride(from: 0, to: userIDs.count, by: 500) {
                let slice = Array(userIDs[start..<min(start + 500, userIDs.count)])
                let rows = try Row.fetchAll(
                    db, sql: "SELECT user_id, workspace_id, role FROM memberships WHERE user_id IN (\(databaseQuestionMarks(count: slice.count))) ORDER BY workspace_id",
                    arguments: StatementArguments(slice))
                for row in rows { out.append((row["user_id"] as String, row["workspace_id"] as String, row["role"] as Int)) }
            }
            return out
        }
        var out: [String: [WorkspaceMembership]] = [:]
        for (user, ws, r) in rows { out[user, default: []].append(WorkspaceMembership(workspaceID: ws, role: try Role.stored(r, for: "workspace \(ws)"))) }
        return out
    }

    public func members(workspaceID: String) async throws(StoreError) -> [(userID: String, role: Role)] {
        let rows = try await read("members") { db in
            try Row.fetchAll(db, sql: "SELECT user_id, role FROM memberships WHERE workspace_id = ? ORDER BY user_id", arguments: [workspaceID])
                .map { (String($0["user_id"] as String), Int($0["role"] as Int)) }
        }
        var out: [(userID: String, role: Role)] = []
        for (user, r) in rows { out.append((user, try Role.stored(r, for: user))) }
        return out
    }
}
