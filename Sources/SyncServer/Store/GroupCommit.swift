import Foundation
import Synchronization

/// One update waiting to be appended.
struct AppendRequest: Sendable {
    var documentID: String
    var update: Data
    var userID: String
}

/// Group commit for a store's appends: every append that arrives while a
/// commit runs goes into the next commit together, so the store pays one
/// transaction (and one disk sync) per group instead of per update, with no
/// added wait when the server is idle. Each caller still returns only after
/// its own update is committed, with its own sequence number.
final class GroupCommit: Sendable {
    private struct Waiting: Sendable {
        var request: AppendRequest
        var continuation: CheckedContinuation<Result<Int, StoreError>, Never>
    }

    private struct Queue: Sendable {
        var waiting: [Waiting] = []
        var flushing = false
    }

    private let queue = Mutex(Queue())
    /// Commits a group in one transaction; returns the sequences in request order.
    private let commit: @Sendable ([AppendRequest]) async throws(StoreError) -> [Int]

    init(commit: @escaping @Sendable ([AppendRequest]) async throws(StoreError) -> [Int]) {
        self.commit = commit
    }

    func append(_ request: AppendRequest) async throws(StoreError) -> Int {
        let result: Result<Int, StoreError> = await withCheckedContinuation { continuation in
            let startFlush = queue.withLock { q -> Bool in
                q.waiting.append(Waiting(request: request, continuation: continuation))
                if q.flushing { return false }
                q.flushing = true
                return true
            }
            if startFlush { Task { await self.flush() } }
        }
        return try result.get()
    }

    /// Commits what is queued, then whatever queued meanwhile, until nothing is left.
    private func flush() async {
        while true {
            let batch = queue.withLock { q -> [Waiting] in
                let b = q.waiting
                q.waiting = []
                if b.isEmpty { q.flushing = false }
                return b
            }
            if batch.isEmpty { return }
            let outcome: Result<[Int], StoreError>
            do { outcome = .success(try await commit(batch.map(\.request))) } catch { outcome = .failure(error) }
            switch outcome {
            case .success(let seqs) where seqs.count == batch.count:
                for (w, seq) in zip(batch, seqs) { w.continuation.resume(returning: .success(seq)) }
            case .success(let seqs):
                let error = StoreError(.unavailable, "group commit returned \(seqs.count) sequences for \(batch.count) updates")
                for w in batch { w.continuation.resume(returning: .failure(error)) }
            case .failure(let error):
                for w in batch { w.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
