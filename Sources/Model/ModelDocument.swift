public import CRDT
import Foundation

/// What every typed document shares: the `meta` map (kind, schema version,
/// deletion mark), the `authors` map (client id → user, so conflict entries
/// can say who) and the conflict log.
///
/// Root types are shared Yjs types, so a web editor binds to the same names
/// (`doc.getText("caption")`, ...).
public enum ModelSchema {
    /// The schema version this build writes and reads.
    public static let current = 1

    /// Reads the schema of `doc`, creating the `meta` map for a new document.
    /// A document of a later schema is refused rather than misread; an older
    /// one is migrated here (version 1 is the first, so there is nothing yet).
    public static func prepare(_ doc: Doc, kind: DocumentKind) throws(ModelError) {
        let meta = doc.getMap("meta")
        if let found = meta.get("kind") as YAny?, let text = found.stringValue, text != kind.rawValue {
            throw .wrongKind(expected: kind, found: text)
        }
        let version = (meta.get("schema") as YAny?)?.doubleValue.map { Int($0) } ?? 0
        if version > current { throw .newerSchema(found: version, supported: current) }
        if version < current {
            try edit(doc) {
                try meta.set("kind", .string(kind.rawValue))
                try meta.set("schema", .integer(Int64(current)))
            }
        }
    }

    /// The schema version stored in `doc` (0 when none yet).
    public static func version(of doc: Doc) -> Int {
        (doc.getMap("meta").get("schema") as YAny?)?.doubleValue.map { Int($0) } ?? 0
    }

    /// Records that this replica's client id belongs to `user` (once per id).
    public static func recordAuthor(_ doc: Doc, user: String) {
        let authors = doc.getMap("authors")
        let key = String(doc.clientID)
        if (authors.get(key) as YAny?)?.stringValue != user { try? authors.set(key, .string(user)) }
    }

    /// The user behind a client id, if recorded.
    public static func author(of client: Int, in doc: Doc) -> String? {
        (doc.getMap("authors").get(String(client)) as YAny?)?.stringValue
    }

    /// Whether the document carries a deletion mark.
    public static func isDeleted(_ doc: Doc) -> Bool {
        if case .bool(true)? = doc.getMap("meta").get("deleted") as YAny? { return true }
        return false
    }

    /// Marks the document deleted (documents are never erased: other devices may still hold edits).
    public static func markDeleted(_ doc: Doc) throws(ModelError) {
        do { try doc.getMap("meta").set("deleted", .bool(true)) } catch { throw .engine(error.description) }
    }
}

/// Runs `body` as one transaction (one update), mapping engine errors.
func edit(_ doc: Doc, _ body: () throws -> Void) throws(ModelError) {
    do {
        try doc.transact { _ in try body() }
    } catch let e as ModelError {
        throw e
    } catch let e as CRDTError {
        throw .engine(e.description)
    } catch {
        throw .engine("\(error)")
    }
}

/// ISO 8601 in UTC with seconds, as every time in the documents is stored.
enum Timestamp {
    static func string(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    static func date(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text)
    }
}

extension YAny {
    /// Reads an object's string field.
    func string(_ key: String) -> String? { self[key]?.stringValue }

    /// Reads an object's integer field.
    func int(_ key: String) -> Int? { self[key]?.doubleValue.map { Int($0) } }
}
