import Foundation
import Synchronization
import SyncProtocol
import SyncServer

/// A store that forwards to another, holds appends while `holdAppends` is
/// set and fails them while `failAppends` is, and counts (and may slow down
/// or fail) membership reads.
final class InstrumentedStore: DocumentStore {
    let inner: any DocumentStore
    let failAppends = Atomic<Bool>(false)
    /// Appends wait until this is cleared (a slow disk or database).
    let holdAppends = Atomic<Bool>(false)
    let failMembershipReads = Atomic<Bool>(false)
    /// Queries for many users' memberships: the users each asked for.
    let membershipQueries = Mutex<[[String]]>([])
    let membershipReadDelay: Duration

    init(_ inner: any DocumentStore, membershipReadDelay: Duration = .zero) {
        self.inner = inner
        self.membershipReadDelay = membershipReadDelay
    }

    func migrate() async throws(StoreError) { try await inner.migrate() }
    func append(documentID: String, update: [UInt8], userID: String) async throws(StoreError) -> Int {
        while holdAppends.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(5)) }
        if failAppends.load(ordering: .relaxed) { throw StoreError(.unavailable, "disk full (test)") }
        return try await inner.append(documentID: documentID, update: update, userID: userID)
    }
    func load(documentID: String) async throws(StoreError) -> StoredDocument { try await inner.load(documentID: documentID) }
    func compact(documentID: String, throughSeq: Int, snapshot: [UInt8], stateVector: [UInt8]) async throws(StoreError) {
        try await inner.compact(documentID: documentID, throughSeq: throughSeq, snapshot: snapshot, stateVector: stateVector)
    }
    func changedDocuments(since cursor: Int, workspaces: [String]) async throws(StoreError) -> (entries: [CatalogEntry], cursor: Int) {
        try await inner.changedDocuments(since: cursor, workspaces: workspaces)
    }
    func setMembership(workspaceID: String, userID: String, role: Role) async throws(StoreError) {
        try await inner.setMembership(workspaceID: workspaceID, userID: userID, role: role)
    }
    func removeMembership(workspaceID: String, userID: String) async throws(StoreError) -> Bool {
        try await inner.removeMembership(workspaceID: workspaceID, userID: userID)
    }
    func memberships(ofUsers userIDs: [String]) async throws(StoreError) -> [String: [WorkspaceMembership]] {
        membershipQueries.withLock { $0.append(userIDs) }
        if membershipReadDelay > .zero { try? await Task.sleep(for: membershipReadDelay) }
        if failMembershipReads.load(ordering: .relaxed) { throw StoreError(.unavailable, "database restarting (test)") }
        return try await inner.memberships(ofUsers: userIDs)
    }
    func members(workspaceID: String) async throws(StoreError) -> [(userID: String, role: Role)] { try await inner.members(workspaceID: workspaceID) }
}
