import Synchronization
import SyncProtocol

/// Reads users' memberships for joining connections, coalesced: every
/// request made while a read runs is answered by the next read, one query
/// for all of their users. In a reconnect storm thousands of joins each need
/// their user's memberships at once; on PostgreSQL one query per join kept
/// them waiting for the pool long after their upgrade. With one join at a
/// time, a request is read at once, alone, as before.
final class MembershipReads: Sendable {
    private struct Waiting {
        var userID: String
        var continuation: CheckedContinuation<Result<[WorkspaceMembership], StoreError>, Never>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var reading = false
    }

    private let store: any DocumentStore
    private let queue = Mutex(Queue())

    init(store: any DocumentStore) { self.store = store }

    /// The workspaces `userID` belongs to, with roles (ordered by workspace id).
    func memberships(of userID: String) async throws(StoreError) -> [WorkspaceMembership] {
        let result = await withCheckedContinuation { continuation in
            let startReading = queue.withLock { q -> Bool in
                q.waiting.append(Waiting(userID: userID, continuation: continuation))
                if q.reading { return false }
                q.reading = true
                return true
            }
            if startReading { Task { await self.readAll() } }
        }
        return try result.get()
    }

    /// Reads what is queued, then whatever queued meanwhile, until nothing is left.
    private func readAll() async {
        while true {
            let batch = queue.withLock { q -> [Waiting] in
                let b = q.waiting
                q.waiting = []
                if b.isEmpty { q.reading = false }
                return b
            }
            if batch.isEmpty { return }
            var users: [String] = []
            var seen = Set<String>()
            for w in batch where seen.insert(w.userID).inserted { users.append(w.userID) }
            do {
                let found = try await store.memberships(ofUsers: users)
                for w in batch { w.continuation.resume(returning: .success(found[w.userID] ?? [])) }
            } catch {
                for w in batch { w.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
