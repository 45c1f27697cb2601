public import SyncProtocol
import Foundation

/// A document as stored: an optional snapshot (a merged update covering
/// everything up to `snapshotSeq`) and the updates appended after it.
public struct StoredDocument: Sendable, Equatable {
    public var snapshot: [UInt8]?
    /// Server sequence the snapshot covers (0 without snapshot).
    public var snapshotSeq: Int
    /// Updates after the snapshot, in commit order.
    public var updates: [StoredUpdate]

    public init(snapshot: [UInt8]?, snapshotSeq: Int, updates: [StoredUpdate]) {
        self.snapshot = snapshot
        self.snapshotSeq = snapshotSeq
        self.updates = updates
    }

    /// The latest server sequence of the document (0 if it has none).
    public var lastSeq: Int { updates.last?.seq ?? snapshotSeq }
}

/// One committed update of a document's append-only log.
public struct StoredUpdate: Sendable, Equatable {
    /// Position in the store's global log: increasing across all documents.
    public var seq: Int
    public var update: [UInt8]
    public init(seq: Int, update: [UInt8]) {
        self.seq = seq
        self.update = update
    }
}

/// Where the server keeps documents and memberships. Every implementation
/// (SQLite, PostgreSQL) passes the same test suite.
///
/// Guarantees: `append` returns only after the update is committed; sequence
/// numbers increase across the whole store, so they double as catalog
/// cursors; `compact` never loses an update appended while it runs.
/// One update waiting to be appended (by a store's group commit).
struct AppendRequest: Sendable {
    var documentID: String
    var update: Data
    var userID: String
}

public protocol DocumentStore: Sendable {
    /// Creates or upgrades the schema.
    func migrate() async throws(StoreError)

    /// Appends an update to a document's log; returns its sequence number.
    func append(documentID: String, update: [UInt8], userID: String) async throws(StoreError) -> Int

    /// The document's snapshot and the updates after it. An unknown document is empty.
    func load(documentID: String) async throws(StoreError) -> StoredDocument

    /// Replaces the snapshot and the updates up to `throughSeq` by `snapshot`
    /// in one transaction. Updates with a higher sequence stay.
    func compact(documentID: String, throughSeq: Int, snapshot: [UInt8], stateVector: [UInt8]) async throws(StoreError)

    /// Documents of `workspaces` whose last update is newer than `cursor`,
    /// and the cursor to use next time.
    func changedDocuments(since cursor: Int, workspaces: [String]) async throws(StoreError) -> (entries: [CatalogEntry], cursor: Int)

    /// Sets a user's role in a workspace (adds or changes the membership).
    func setMembership(workspaceID: String, userID: String, role: Role) async throws(StoreError)

    /// Removes a membership; returns whether there was one.
    @discardableResult
    func removeMembership(workspaceID: String, userID: String) async throws(StoreError) -> Bool

    /// The memberships of each of `userIDs` (ordered by workspace id), in one
    /// query where the database allows (users with none are absent): for the
    /// sweep that re-checks live connections and for the joins of a
    /// reconnect storm, which are read together.
    func memberships(ofUsers userIDs: [String]) async throws(StoreError) -> [String: [WorkspaceMembership]]

    /// The members of a workspace: user id and role.
    func members(workspaceID: String) async throws(StoreError) -> [(userID: String, role: Role)]
}

extension DocumentStore {
    /// The workspaces a user belongs to, with roles (ordered by workspace id).
    public func memberships(userID: String) async throws(StoreError) -> [WorkspaceMembership] {
        try await memberships(ofUsers: [userID])[userID] ?? []
    }
}

/// A store failure. Nothing was changed when it is thrown.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The database could not be reached or refused the operation.
        public static let unavailable = Code(rawValue: "unavailable")
        /// Stored data is not what the server wrote (corruption, manual edits).
        public static let corrupt = Code(rawValue: "corrupt")
        /// The arguments are invalid (empty document id, ...).
        public static let invalidArgument = Code(rawValue: "invalid_argument")
    }

    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "store \(code.rawValue): \(message)" }
}

extension Role {
    /// A role number read back from a store; anything else is corruption.
    static func stored(_ raw: Int, for who: String) throws(StoreError) -> Role {
        guard let role = Role(rawValue: raw) else { throw StoreError(.corrupt, "unknown role \(raw) for \(who)") }
        return role
    }
}
