public import CRDT
public import Foundation
import GRDB

/// A pending local update waiting for the server's ack.
public struct OutboxEntry: Sendable, Equatable {
    public var seq: Int
    public var document: String
    public var update: [UInt8]
    public var createdAt: Date
}

/// A local update the server refused for good (e.g. the user is a viewer).
public struct RefusedEntry: Sendable, Equatable {
    public var seq: Int
    public var document: String
    public var code: String
    public var text: String
    public var createdAt: Date
}

/// Counts for `nest status`.
public struct OutboxSummary: Sendable, Equatable {
    public var pendingUpdates: Int
    public var pendingDocuments: Int
    public var oldestPending: Date?
    public var refused: Int
}

/// The client's local database: one SQLite file (WAL) per data directory
/// holding every document (snapshot plus the updates since), the outbox of
/// local updates not yet acknowledged, and the profile.
///
/// An edit is committed — document update and outbox entry in one SQLite
/// transaction with `synchronous = FULL` — before ``commitLocal(_:update:)``
/// returns, so neither a killed process nor a power cut loses it. Several
/// `nest` processes may use one directory at once: updates commute, so a
/// document is always its snapshot plus every update row, in any order.
public final class LocalStore: Sendable {
    let pool: DatabasePool
    /// Path of the database file.
    public let path: String
    /// Documents recently edited by this process (see ``EditCache``).
    let editCache = EditCache()

    /// Opens (creating if needed) the store in `directory`.
    public init(directory: String) throws(ClientError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .storage("cannot create \(directory): \(error.localizedDescription)")
        }
        path = (directory as NSString).appendingPathComponent("nest-client.sqlite")
        do {
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw .storage("cannot open \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE documents (
                    name TEXT PRIMARY KEY,
                    snapshot BLOB,
                    snapshot_upto INTEGER NOT NULL DEFAULT 0,
                    server_seq INTEGER NOT NULL DEFAULT 0,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE updates (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    data BLOB NOT NULL,
                    local INTEGER NOT NULL
                );
                CREATE INDEX updates_name ON updates(name, seq);
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    data BLOB NOT NULL,
                    created_at REAL NOT NULL,
                    refused_code TEXT,
                    refused_text TEXT
                );
                CREATE INDEX outbox_name ON outbox(name, seq);
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
        }
        return m
    }

    func write<T>(_ what: String, _ body: (GRDB.Database) throws -> T) throws(ClientError) -> T {
        do { return try pool.write(body) } catch let e as ClientError { throw e } catch { throw .storage("\(what): \(error)") }
    }

    func read<T>(_ what: String, _ body: (GRDB.Database) throws -> T) throws(ClientError) -> T {
        do { return try pool.read(body) } catch let e as ClientError { throw e } catch { throw .storage("\(what): \(error)") }
    }

    // MARK: Meta

    /// A stored setting (profile, catalog cursor, last sync time).
    public func meta(_ key: String) throws(ClientError) -> String? {
        try read("read \(key)") { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func setMeta(_ values: [String: String?]) throws(ClientError) {
        try write("save settings") { db in
            for (k, v) in values {
                if let v {
                    try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [k, v])
                } else {
                    try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [k])
                }
            }
        }
    }

    // MARK: Documents

    /// Names of every local document, sorted.
    public func documentNames() throws(ClientError) -> [String] {
        try read("list documents") { db in try String.fetchAll(db, sql: "SELECT name FROM documents ORDER BY name") }
    }

    public func hasDocument(_ name: String) throws(ClientError) -> Bool {
        try read("find document") { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM documents WHERE name = ?", arguments: [name]) ?? false }
    }

    /// The last server sequence seen for a document.
    public func serverSeq(_ name: String) throws(ClientError) -> Int {
        try read("read server seq") { db in try Int.fetchOne(db, sql: "SELECT server_seq FROM documents WHERE name = ?", arguments: [name]) ?? 0 }
    }

    /// The stored document: its snapshot with every later update applied,
    /// under a fresh random client id.
    public func load(_ name: String) throws(ClientError) -> Doc {
        try read("load \(name)") { db in try Self.load(db, name) }
    }

    /// The stored document and the last outbox entry it includes, read in
    /// one snapshot: a sync may only drop outbox entries whose content it sent.
    public func loadWithOutboxMark(_ name: String) throws(ClientError) -> (doc: Doc, outboxThrough: Int) {
        try read("load \(name)") { db in
            let mark = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM outbox WHERE name = ?", arguments: [name]) ?? 0
            return (try Self.load(db, name), mark)
        }
    }

    static func load(_ db: GRDB.Database, _ name: String) throws -> Doc {
        let snapshot = try Data.fetchOne(db, sql: "SELECT snapshot FROM documents WHERE name = ?", arguments: [name]).map { [UInt8]($0) }
        let updates = try Data.fetchAll(db, sql: "SELECT data FROM updates WHERE name = ? ORDER BY seq", arguments: [name]).map { [UInt8]($0) }
        let doc = Doc()
        do {
            if let snapshot { try doc.applyUpdate(snapshot) }
            for u in updates { try doc.applyUpdate(u) }
        } catch {
            throw ClientError.corruptDocument(name, error.description)
        }
        return doc
    }

    /// This data directory's Yjs client id for edits, created on first use.
    /// Edits run under SQLite's write lock from the latest stored state, so
    /// one id serves every `nest` process of the directory without two of
    /// them ever writing the same (client, clock) — and state vectors stay
    /// small instead of growing by one client per command. Drawn below
    /// 2^31: servers draw their own edits' ids above it, so the two never meet.
    static func clientID(_ db: GRDB.Database) throws -> Int {
        if let s = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'client_id'"), let id = Int(s) { return id }
        let id = Int(UInt32.random(in: 1...0x7FFF_FFFF))
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('client_id', ?)", arguments: [String(id)])
        return id
    }

    /// Records a local edit: the update joins the document and the outbox in
    /// one durable transaction. Returns the outbox sequence.
    @discardableResult
    public func commitLocal(_ name: String, update: [UInt8], now: Date = Date()) throws(ClientError) -> Int {
        try write("save edit to \(name)") { db in
            try Self.touch(db, name, now)
            try db.execute(sql: "INSERT INTO updates (name, data, local) VALUES (?, ?, 1)", arguments: [name, Data(update)])
            try db.execute(sql: "INSERT INTO outbox (name, data, created_at) VALUES (?, ?, ?)", arguments: [name, Data(update), now.timeIntervalSince1970])
            return Int(db.lastInsertedRowID)
        }
    }

    static func insertLocal(_ db: GRDB.Database, _ name: String, _ update: [UInt8], _ now: Date) throws {
        try touch(db, name, now)
        try db.execute(sql: "INSERT INTO updates (name, data, local) VALUES (?, ?, 1)", arguments: [name, Data(update)])
        try db.execute(sql: "INSERT INTO outbox (name, data, created_at) VALUES (?, ?, ?)", arguments: [name, Data(update), now.timeIntervalSince1970])
    }

    /// Records updates that came from the server (and, when given, the
    /// server sequence they bring the document to), plus any local follow-up
    /// edit (a conflict-log entry) in the same transaction.
    public func commitRemote(_ name: String, updates: [[UInt8]], serverSeq: Int?, localFollowUp: [UInt8]? = nil, now: Date = Date()) throws(ClientError) {
        try write("save server update to \(name)") { db in
            try Self.touch(db, name, now)
            for u in updates {
                try db.execute(sql: "INSERT INTO updates (name, data, local) VALUES (?, ?, 0)", arguments: [name, Data(u)])
            }
            if let serverSeq {
                try db.execute(sql: "UPDATE documents SET server_seq = MAX(server_seq, ?) WHERE name = ?", arguments: [serverSeq, name])
            }
            if let localFollowUp {
                try db.execute(sql: "INSERT INTO updates (name, data, local) VALUES (?, ?, 1)", arguments: [name, Data(localFollowUp)])
                try db.execute(sql: "INSERT INTO outbox (name, data, created_at) VALUES (?, ?, ?)", arguments: [name, Data(localFollowUp), now.timeIntervalSince1970])
            }
        }
    }

    static func touch(_ db: GRDB.Database, _ name: String, _ now: Date) throws {
        try db.execute(sql: """
            INSERT INTO documents (name, updated_at) VALUES (?, ?)
            ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at
            """, arguments: [name, now.timeIntervalSince1970])
    }

    /// The highest update row id, so a long-running process can pick up rows other processes wrote.
    public func lastUpdateSeq() throws(ClientError) -> Int {
        try read("read update log") { db in try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM updates") ?? 0 }
    }

    /// Update rows written after `seq`, with their document names.
    public func updates(after seq: Int) throws(ClientError) -> [(seq: Int, name: String, data: [UInt8])] {
        try read("read update log") { db in
            try Row.fetchAll(db, sql: "SELECT seq, name, data FROM updates WHERE seq > ? ORDER BY seq", arguments: [seq]).map { r in
                (seq: r["seq"] as Int, name: r["name"] as String, data: [UInt8](r["data"] as Data))
            }
        }
    }

    /// Folds a document's update rows into its snapshot, in one transaction
    /// that reads and writes under the write lock so no concurrent edit is lost.
    /// Returns how many rows were folded.
    @discardableResult
    public func compact(_ name: String) throws(ClientError) -> Int {
        try write("compact \(name)") { db in
            let snap = try Data.fetchOne(db, sql: "SELECT snapshot FROM documents WHERE name = ?", arguments: [name]).map { [UInt8]($0) }
            let rows = try Row.fetchAll(db, sql: "SELECT seq, data FROM updates WHERE name = ? ORDER BY seq", arguments: [name])
            guard !rows.isEmpty else { return 0 }
            var all: [[UInt8]] = snap.map { [$0] } ?? []
            all += rows.map { [UInt8]($0["data"] as Data) }
            let doc = Doc()
            for u in all { try doc.applyUpdate(u) }
            let state = try doc.encodeStateAsUpdate()
            let upto = rows.last.map { $0["seq"] as Int } ?? 0
            try db.execute(sql: "UPDATE documents SET snapshot = ?, snapshot_upto = ? WHERE name = ?", arguments: [Data(state), upto, name])
            try db.execute(sql: "DELETE FROM updates WHERE name = ? AND seq <= ?", arguments: [name, upto])
            return rows.count
        }
    }

    /// Number of update rows of a document not yet folded into its snapshot.
    public func updateRowCount(_ name: String) throws(ClientError) -> Int {
        try read("count updates") { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM updates WHERE name = ?", arguments: [name]) ?? 0 }
    }

    // MARK: Outbox

    /// Unacknowledged, unrefused updates, oldest first.
    public func pending(limit: Int = .max) throws(ClientError) -> [OutboxEntry] {
        try read("read outbox") { db in
            try Row.fetchAll(db, sql: "SELECT seq, name, data, created_at FROM outbox WHERE refused_code IS NULL ORDER BY seq LIMIT ?", arguments: [limit]).map { r in
                OutboxEntry(seq: r["seq"], document: r["name"], update: [UInt8](r["data"] as Data), createdAt: Date(timeIntervalSince1970: r["created_at"]))
            }
        }
    }

    /// Pending updates of one document, oldest first.
    public func pending(document name: String) throws(ClientError) -> [OutboxEntry] {
        try read("read outbox") { db in
            try Row.fetchAll(db, sql: "SELECT seq, name, data, created_at FROM outbox WHERE refused_code IS NULL AND name = ? ORDER BY seq", arguments: [name]).map { r in
                OutboxEntry(seq: r["seq"], document: r["name"], update: [UInt8](r["data"] as Data), createdAt: Date(timeIntervalSince1970: r["created_at"]))
            }
        }
    }

    /// Names of documents with pending updates.
    public func pendingDocuments() throws(ClientError) -> [String] {
        try read("read outbox") { db in try String.fetchAll(db, sql: "SELECT DISTINCT name FROM outbox WHERE refused_code IS NULL ORDER BY name") }
    }

    /// Drops a document's outbox entries up to `seq`: the server committed them.
    public func acknowledge(_ name: String, through seq: Int) throws(ClientError) {
        try write("record ack") { db in
            try db.execute(sql: "DELETE FROM outbox WHERE name = ? AND seq <= ? AND refused_code IS NULL", arguments: [name, seq])
        }
    }

    /// Marks a document's outbox entries up to `seq` refused; they are kept
    /// for the user to see and never sent again.
    public func refuse(_ name: String, through seq: Int, code: String, text: String) throws(ClientError) {
        try write("record refusal") { db in
            try db.execute(sql: "UPDATE outbox SET refused_code = ?, refused_text = ? WHERE name = ? AND seq <= ? AND refused_code IS NULL",
                           arguments: [code, text, name, seq])
        }
    }

    /// Documents with edits the server refused for good: shown as refused, never as synced.
    public func refusedDocuments() throws(ClientError) -> Set<String> {
        try read("read outbox") { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT name FROM outbox WHERE refused_code IS NOT NULL")) }
    }

    /// Updates the server refused for good.
    public func refused() throws(ClientError) -> [RefusedEntry] {
        try read("read outbox") { db in
            try Row.fetchAll(db, sql: "SELECT seq, name, refused_code, refused_text, created_at FROM outbox WHERE refused_code IS NOT NULL ORDER BY seq").map { r in
                RefusedEntry(seq: r["seq"], document: r["name"], code: r["refused_code"], text: r["refused_text"], createdAt: Date(timeIntervalSince1970: r["created_at"]))
            }
        }
    }

    public func outboxSummary() throws(ClientError) -> OutboxSummary {
        try read("read outbox") { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS d, MIN(created_at) AS oldest FROM outbox WHERE refused_code IS NULL
                """)
            let refused = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE refused_code IS NOT NULL") ?? 0
            let oldest: Double? = row?["oldest"]
            return OutboxSummary(pendingUpdates: row?["n"] ?? 0, pendingDocuments: row?["d"] ?? 0,
                                 oldestPending: oldest.map { Date(timeIntervalSince1970: $0) }, refused: refused)
        }
    }
}
