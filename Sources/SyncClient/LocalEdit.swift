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
            let doc = try Self.load(db, name)
            doc.resume(clientID: try Self.clientID(db))
            var update: [UInt8]?
            doc.onUpdate { u, txn in if txn.local { update = u } }
            do {
                result = [try doc.transact { _ in
                    let r = try body(doc)
                    ModelSchema.recordAuthor(doc, user: user)
                    return r
                }]
            } catch {
                // Not rethrown inside the write block, which would be reported as a storage failure.
                failure = error
                return 0
            }
            if let update { try Self.insertLocal(db, name, update, now) }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM updates WHERE name = ?", arguments: [name]) ?? 0
        }
        if let failure { throw failure }
        if rows > 500 { try compact(name) }
        guard let result = result.first else { throw ClientError.storage("edit of \(name) produced no result") }
        return result
    }

    /// Reads the stored document through `body` without changing it.
    public func read<R>(_ name: String, _ body: (Doc) throws -> R) throws -> R {
        guard try hasDocument(name) else { throw ClientError.unknownDocument(name) }
        return try body(try load(name))
    }
}
