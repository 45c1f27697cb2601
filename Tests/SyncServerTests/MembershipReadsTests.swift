import Testing
import Foundation
import Synchronization
import SyncProtocol
@testable import SyncServer

@Suite("membership reads")
struct MembershipReadsTests {
    @Test("joins that arrive together are read together, each gets its own user's memberships, a failed read fails only its batch")
    func coalesced() async throws {
        let (sqlite, _) = try SQLiteStoreTests.freshStore()
        try await sqlite.migrate()
        let users = (0..<300).map { "user\($0)" }
        for (i, u) in users.enumerated() where i % 3 != 0 {
            try await sqlite.setMembership(workspaceID: "w\(i % 7)", userID: u, role: i % 2 == 0 ? .editor : .viewer)
        }
        try await sqlite.setMembership(workspaceID: "w0", userID: "user1", role: .owner)
        // Each read takes a while, as a busy database's does: joins arriving meanwhile queue for the next.
        let store = InstrumentedStore(sqlite, membershipReadDelay: .milliseconds(30))
        let reads = MembershipReads(store: store)
        // Each user asks twice: both get the same answer from one read.
        let answers = try await withThrowingTaskGroup(of: (String, [WorkspaceMembership]).self) { group in
            for u in users + users { group.addTask { (u, try await reads.memberships(of: u)) } }
            var all: [(String, [WorkspaceMembership])] = []
            for try await a in group { all.append(a) }
            return all
        }
        #expect(answers.count == 600)
        for (user, got) in answers {
            #expect(got == (try await sqlite.memberships(userID: user)), "\(user)")
        }
        let queries = store.membershipQueries.withLock { $0 }
        #expect(queries.allSatisfy { Set($0).count == $0.count }, "a user asked for twice in one query")
        #expect(Set(queries.joined()) == Set(users))
        #expect(queries.count < 20, "600 joins took \(queries.count) queries")

        // A failed read fails the joins it answers; the next ones read again.
        store.failMembershipReads.store(true, ordering: .relaxed)
        await #expect(throws: StoreError.self) { _ = try await reads.memberships(of: "user1") }
        store.failMembershipReads.store(false, ordering: .relaxed)
        #expect(try await reads.memberships(of: "user1") == [WorkspaceMembership(workspaceID: "w0", role: .owner), WorkspaceMembership(workspaceID: "w1", role: .viewer)])
        #expect(try await reads.memberships(of: "nobody").isEmpty)
    }
}
