import Foundation
public import Logging
import NIOCore
public import PostgresNIO
public import SyncProtocol

/// The production store on PostgreSQL. The caller runs the
/// `PostgresClient` (`client.run()`, e.g. in the server's service group).
///
/// Appends take a transaction-scoped advisory lock so that sequence numbers
/// commit in order: a catalog cursor can then never skip an update that
/// committed after a later-numbered one.
public final class PostgresDocumentStore: DocumentStore {
    let client: PostgresClient
    let logger: Logger
    /// Advisory lock key of the append path ("nestapnd").
    private static let appendLock: Int64 = 0x6E65_7374_6170_6E64

    /// Longest any store operation may take before it fails as unavailable
    /// (a request never waits minutes for an unreachable database).
    private let operationTimeout: Duration
    private let appends: StoreBatcher<AppendRequest, Int>

    public init(client: PostgresClient, logger: Logger, operationTimeout: Duration = .seconds(10)) {
        self.client = client
        self.logger = logger
        self.operationTimeout = operationTimeout
        appends = StoreBatcher { [client, logger] group throws(StoreError) in
            try await Self.withTimeout("append", operationTimeout) { try await Self.commit(group, client: client, logger: logger) }
        }
    }

    /// A client configuration from a `postgres://user:password@host:port/database` URL.
    public static func configuration(url: String) throws(StoreError) -> PostgresClient.Configuration {
        guard let u = URLComponents(string: url), ["postgres", "postgresql"].contains(u.scheme ?? ""), let host = u.host else {
            throw StoreError(.invalidArgument, "DATABASE_URL must look like postgres://user:password@host:port/database")
        }
        let database = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
        return PostgresClient.Configuration(
            host: host, port: u.port ?? 5432, username: u.user ?? "postgres", password: u.password,
            database: database.isEmpty ? nil : database, tls: .disable)
    }

    func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws(StoreError) -> T {
        try await Self.withTimeout(what, operationTimeout, body)
    }

    private static func withTimeout<T: Sendable>(
        _ what: String, _ timeout: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws(StoreError) -> T {
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else {
                    throw StoreError(.unavailable, "\(what): no answer from PostgreSQL within \(timeout)")
                }
                return value
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.unavailable, "\(what): \(String(reflecting: error))")
        }
    }

    public func migrate() async throws(StoreError) {
        try await run("migration") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                _ = try await conn.query("SELECT pg_advisory_xact_lock(\(Self.appendLock + 1))", logger: logger)
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS documents (
                        doc_id TEXT PRIMARY KEY, last_seq BIGINT NOT NULL DEFAULT 0, created_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                try await conn.query("CREATE INDEX IF NOT EXISTS documents_last_seq ON documents(last_seq)", logger: logger)
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS document_updates (
                        seq BIGSERIAL PRIMARY KEY, doc_id TEXT NOT NULL, update_data BYTEA NOT NULL,
                        user_id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                try await conn.query("CREATE INDEX IF NOT EXISTS document_updates_doc ON document_updates(doc_id, seq)", logger: logger)
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS document_snapshots (
                        doc_id TEXT PRIMARY KEY, upto_seq BIGINT NOT NULL, state BYTEA NOT NULL, state_vector BYTEA NOT NULL)
                    """, logger: logger)
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS memberships (
                        workspace_id TEXT NOT NULL, user_id TEXT NOT NULL, role INTEGER NOT NULL, PRIMARY KEY (workspace_id, user_id))
                    """, logger: logger)
                try await conn.query("CREATE INDEX IF NOT EXISTS memberships_user ON memberships(user_id)", logger: logger)
                for statement in JobSchema.postgres + ProjectionSchema.postgres + AIUsageSchema.postgres + PushSchema.postgres { try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
        }
    }

    public func append(documentID: String, update: [UInt8], userID: String) async throws(StoreError) -> Int {
        guard !documentID.isEmpty else { throw StoreError(.invalidArgument, "empty document id") }
        return try await appends.submit(AppendRequest(documentID: documentID, update: Data(update), userID: userID))
    }

    /// One statement, so one round trip and one implicit transaction, for a
    /// group of appends: under the ordering lock (so that sequences become
    /// visible in order, whatever other servers append), number the group in
    /// request order, insert all rows and move each document's latest
    /// sequence. Round trips, not work, were what an ack waited for on a busy
    /// machine: six per group before.
    private static func commit(_ group: [AppendRequest], client: PostgresClient, logger: Logger) async throws -> [Int] {
        let docs = group.map(\.documentID), users = group.map(\.userID), data = group.map { ByteBuffer(bytes: $0.update) }
        let rows = try await client.query("""
            WITH ordering AS (SELECT pg_advisory_xact_lock(\(appendLock))),
            numbered AS (
                SELECT t.ord, nextval('document_updates_seq_seq') AS seq
                FROM ordering, generate_series(1, \(group.count)) AS t(ord)
                ORDER BY t.ord
            ),
            inserted AS (
                INSERT INTO document_updates (seq, doc_id, update_data, user_id)
                SELECT n.seq, u.doc_id, u.update_data, u.user_id
                FROM numbered n
                JOIN unnest(\(docs)::text[], \(data)::bytea[], \(users)::text[]) WITH ORDINALITY AS u(doc_id, update_data, user_id, ord)
                  ON u.ord = n.ord
                RETURNING seq, doc_id
            ),
            latest AS (
                INSERT INTO documents (doc_id, last_seq)
                SELECT doc_id, max(seq) FROM inserted GROUP BY doc_id
                ON CONFLICT (doc_id) DO UPDATE SET last_seq = GREATEST(documents.last_seq, EXCLUDED.last_seq)
            )
            SELECT ord, seq FROM numbered ORDER BY ord
            """, logger: logger)
        // Each request gets the sequence its row was inserted with (matched by position, not by order of numbering).
        var seqs: [Int] = []
        for try await (ord, seq) in rows.decode((Int, Int).self) {
            guard ord == seqs.count + 1 else { break }
            seqs.append(seq)
        }
        guard seqs.count == group.count else {
            throw StoreError(.unavailable, "append of \(group.count) updates returned \(seqs.count) sequences")
        }
        return seqs
    }

    public func load(documentID: String) async throws(StoreError) -> StoredDocument {
        try await run("load") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                var snapshot: [UInt8]?
                var snapshotSeq = 0
                let snap = try await conn.query("SELECT upto_seq, state FROM document_snapshots WHERE doc_id = \(documentID)", logger: logger)
                for try await (seq, state) in snap.decode((Int, ByteBuffer).self) {
                    snapshotSeq = seq
                    snapshot = Array(buffer: state)
                }
                var updates: [StoredUpdate] = []
                let rows = try await conn.query(
                    "SELECT seq, update_data FROM document_updates WHERE doc_id = \(documentID) AND seq > \(snapshotSeq) ORDER BY seq",
                    logger: logger)
                for try await (seq, data) in rows.decode((Int, ByteBuffer).self) { updates.append(StoredUpdate(seq: seq, update: Array(buffer: data))) }
                return StoredDocument(snapshot: snapshot, snapshotSeq: snapshotSeq, updates: updates)
            }
        }
    }

    public func compact(documentID: String, throughSeq: Int, snapshot: [UInt8], stateVector: [UInt8]) async throws(StoreError) {
        let state = ByteBuffer(bytes: snapshot)
        let sv = ByteBuffer(bytes: stateVector)
        try await run("compact") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                try await conn.query("""
                    INSERT INTO document_snapshots (doc_id, upto_seq, state, state_vector) VALUES (\(documentID), \(throughSeq), \(state), \(sv))
                    ON CONFLICT (doc_id) DO UPDATE SET upto_seq = EXCLUDED.upto_seq, state = EXCLUDED.state, state_vector = EXCLUDED.state_vector
                    WHERE document_snapshots.upto_seq < EXCLUDED.upto_seq
                    """, logger: logger)
                // Delete only what the snapshot now in place covers.
                try await conn.query("""
                    DELETE FROM document_updates WHERE doc_id = \(documentID)
                    AND seq <= (SELECT upto_seq FROM document_snapshots WHERE doc_id = \(documentID))
                    """, logger: logger)
            }
        }
    }

    public func changedDocuments(since cursor: Int, workspaces: [String]) async throws(StoreError) -> (entries: [CatalogEntry], cursor: Int) {
        try await run("catalog") { [self] in
            try await client.withTransaction(logger: logger) { conn in
                _ = try await conn.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
                var entries: [CatalogEntry] = []
                for ws in workspaces {
                    let lower = ws + "/"
                    let upper = ws + "0"
                    let rows = try await conn.query("""
                        SELECT doc_id, last_seq FROM documents WHERE last_seq > \(cursor)
                        AND doc_id COLLATE "C" >= \(lower) AND doc_id COLLATE "C" < \(upper) ORDER BY last_seq
                        """, logger: logger)
                    for try await (doc, seq) in rows.decode((String, Int).self) { entries.append(CatalogEntry(documentID: doc, serverSeq: seq)) }
                }
                var global = 0
                for try await g in try await conn.query("SELECT COALESCE(MAX(last_seq), 0) FROM documents", logger: logger).decode(Int.self) { global = g }
                return (entries.sorted { $0.serverSeq < $1.serverSeq }, max(cursor, global))
            }
        }
    }

    public func setMembership(workspaceID: String, userID: String, role: Role) async throws(StoreError) {
        guard !workspaceID.isEmpty, !userID.isEmpty else { throw StoreError(.invalidArgument, "empty workspace or user") }
        let r = role.rawValue
        _ = try await run("set membership") { [self] in
            try await client.query("""
                INSERT INTO memberships (workspace_id, user_id, role) VALUES (\(workspaceID), \(userID), \(r))
                ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role
                """, logger: logger)
        }
    }

    @discardableResult
    public func removeMembership(workspaceID: String, userID: String) async throws(StoreError) -> Bool {
        try await run("remove membership") { [self] in
            var removed = false
            let rows = try await client.query(
                "DELETE FROM memberships WHERE workspace_id = \(workspaceID) AND user_id = \(userID) RETURNING user_id", logger: logger)
            for try await _ in rows.decode(String.self) { removed = true }
            return removed
        }
    }

    public func memberships(ofUsers userIDs: [String]) async throws(StoreError) -> [String: [WorkspaceMembership]] {
        guard !userIDs.isEmpty else { return [:] }
        let rows: [(String, String, Int)] = try await run("memberships") { [self] in
            var out: [(String, String, Int)] = []
            let rows = try await client.query(
                "SELECT user_id, workspace_id, role FROM memberships WHERE user_id = ANY(\(userIDs)::text[]) ORDER BY workspace_id COLLATE \"C\"", logger: logger)
            for try await row in rows.decode((String, String, Int).self) { out.append(row) }
            return out
        }
        var out: [String: [WorkspaceMembership]] = [:]
        for (user, ws, r) in rows { out[user, default: []].append(WorkspaceMembership(workspaceID: ws, role: try Role.stored(r, for: "workspace \(ws)"))) }
        return out
    }

    public func members(workspaceID: String) async throws(StoreError) -> [(userID: String, role: Role)] {
        let rows: [(String, Int)] = try await run("members") { [self] in
            var out: [(String, Int)] = []
            let rows = try await client.query("SELECT user_id, role FROM memberships WHERE workspace_id = \(workspaceID) ORDER BY user_id COLLATE \"C\"", logger: logger)
            for try await row in rows.decode((String, Int).self) { out.append(row) }
            return out
        }
        var out: [(userID: String, role: Role)] = []
        for (user, r) in rows { out.append((user, try Role.stored(r, for: user))) }
        return out
    }
}
