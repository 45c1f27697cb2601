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

    /// How a group is committed: an async call, or a blocking one run on a
    /// thread of the group commit's own (an embedded database).
    private enum Committer: Sendable {
        case async(@Sendable ([AppendRequest]) async throws(StoreError) -> [Int])
        case blocking(@Sendable ([AppendRequest]) throws(StoreError) -> [Int], DispatchQueue)
    }

    private let queue = Mutex(Queue())
    private let committer: Committer

    /// Commits each group with `commit` (one transaction; returns the sequences in request order).
    init(commit: @escaping @Sendable ([AppendRequest]) async throws(StoreError) -> [Int]) {
        committer = .async(commit)
    }

    /// Commits each group with a blocking `commit` on a serial queue of its
    /// own: no concurrency-pool thread ever waits for the disk, and an update
    /// passes two threads (caller, committer) instead of four (caller, flush
    /// task, database queue, flush task again).
    init(label: String, blockingCommit commit: @escaping @Sendable ([AppendRequest]) throws(StoreError) -> [Int]) {
        committer = .blocking(commit, DispatchQueue(label: label, qos: .userInitiated))
    }

    func append(_ request: AppendRequest) async throws(StoreError) -> Int {
        let result: Result<Int, StoreError> = await withCheckedContinuation { continuation in
            let startFlush = queue.withLock { q -> Bool in
                q.waiting.append(Waiting(request: request, continuation: continuation))
                if q.flushing { return false }
                q.flushing = true
                return true
            }
            guard startFlush else { return }
            switch committer {
            case .async(let commit): Task { await self.flush(commit) }
            case .blocking(let commit, let thread): thread.async { self.flushBlocking(commit) }
            }
        }
        return try result.get()
    }

    /// The next group, or nil (and no flush running) when nothing is queued.
    private func nextBatch() -> [Waiting]? {
        queue.withLock { q -> [Waiting]? in
            let b = q.waiting
            q.waiting = []
            if b.isEmpty { q.flushing = false }
            return b.isEmpty ? nil : b
        }
    }

    /// Commits what is queued, then whatever queued meanwhile, until nothing is left.
    private func flush(_ commit: @Sendable ([AppendRequest]) async throws(StoreError) -> [Int]) async {
        while let batch = nextBatch() {
            let outcome: Result<[Int], StoreError>
            do { outcome = .success(try await commit(batch.map(\.request))) } catch { outcome = .failure(error) }
            Self.finish(batch, outcome)
        }
    }

    private func flushBlocking(_ commit: @Sendable ([AppendRequest]) throws(StoreError) -> [Int]) {
        while let batch = nextBatch() {
            let outcome: Result<[Int], StoreError>
            do { outcome = .success(try commit(batch.map(\.request))) } catch { outcome = .failure(error) }
            Self.finish(batch, outcome)
        }
    }

    /// Hands each caller of a committed (or failed) group its own outcome.
    private static func finish(_ batch: [Waiting], _ outcome: Result<[Int], StoreError>) {
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
