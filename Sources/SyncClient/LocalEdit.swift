public import CRDT
public import Foundation
import GRDB
import Model

extension LocalStore {
    /// Runs `body` on the stored document as one transaction and commits the
    /// resulting update (document + outbox) before returning. The whole edit
    /// holds SQLite's write lock, so concurrent `nest` processes edit one
    /// after another, each from the latest state. When `body` throws, nothing
    /// is stored and the error is rethrown. The edit records `user` as the
    /// author of the directory's client id, so conflict entries can name people.
    @discardableResult
    public func edit<R>(_ name: String, user: String, now: Date = Date(), _ body: (Doc) throws -> R) throws -> R {
        var result: [R] = []
        var failure: (any Error)?
        let rows: Int = try write("save edit to \(name)") { db in
            let doc = try editableDocument(db, name)
            var update: [UInt8]?
            let handler = doc.onUpdate { u, txn in if txn.local { update = u } }
            defer { doc.removeHandler(handler) }
            do {
                result = [try doc.transact { _ in
                    let r = try body(doc)
                    ModelSchema.recordAuthor(doc, user: user)
                    return r
                }]
            } catch {
                // The document may hold half the edit: drop it from the cache. The
                // error is not rethrown inside the write block, which would report it as a storage failure.
                editCache.remove(name)
                failure = error
                return 0
            }
            guard let update else { return 0 }
            do { try Self.insertLocal(db, name, update, now) } catch {
                editCache.remove(name)
                throw error
            }
            let counts = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MAX(seq) AS last FROM updates WHERE name = ?", arguments: [name])
            // Last, so that a failure anywhere above leaves no cached edit the database does not have.
            editCache.store(name, doc, through: counts?["last"] ?? 0)
            return counts?["n"] ?? 0
        }
        if let failure { throw failure }
        if rows > 500 { try compact(name) }
        guard let result = result.first else { throw ClientError.storage("edit of \(name) produced no result") }
        return result
    }

    /// The document to edit, under the write lock: the cached copy brought up
    /// to date with rows other processes wrote since, or a fresh load when a
    /// compaction folded rows the copy has not seen.
    func editableDocument(_ db: GRDB.Database, _ name: String) throws -> Doc {
        let clientID = try Self.clientID(db)
        let upto = try Int.fetchOne(db, sql: "SELECT snapshot_upto FROM documents WHERE name = ?", arguments: [name]) ?? 0
        if let (doc, through) = editCache.get(name), upto <= through {
            let newer = try Data.fetchAll(db, sql: "SELECT data FROM updates WHERE name = ? AND seq > ? ORDER BY seq", arguments: [name, through])
            do { for u in newer { try doc.applyUpdate([UInt8](u)) } } catch {
                editCache.remove(name)
                throw ClientError.corruptDocument(name, error.description)
            }
            doc.resume(clientID: clientID)
            return doc
        }
        let doc = try Self.load(db, name)
        doc.resume(clientID: clientID)
        return doc
    }

    /// Reads the stored document through `body` without changing it.
    public func read<R>(_ name: String, _ body: (Doc) throws -> R) throws -> R {
        guard try hasDocument(name) else { throw ClientError.unknownDocument(name) }
        return try body(try load(name))
    }
}
