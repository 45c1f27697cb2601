import Foundation
import Synchronization

/// Group commit for small store calls (document appends, job completions,
/// delivery log rows, device lookups): whatever arrives while a call runs
/// goes into the next one together, so a busy server pays one transaction
/// (and one disk sync) or query per group instead of per item, with no added
/// wait when it is idle. Each caller still returns only once its own item is
/// done, with its own result.
final class StoreBatcher<Item: Sendable, Output: Sendable>: Sendable {
    private struct Waiting: Sendable {
        var item: Item
        /// Nil for an item posted without waiting (see ``post(_:)``).
        var continuation: CheckedContinuation<Result<Output, StoreError>, Never>?
    }

    private struct Queue: Sendable {
        var waiting: [Waiting] = []
        var flushing = false
    }

    /// How a group is run: an async call, or a blocking one run on a thread of
    /// the batcher's own (an embedded database).
    private enum Runner: Sendable {
        case async(@Sendable ([Item]) async throws(StoreError) -> [Output])
        case blocking(@Sendable ([Item]) throws(StoreError) -> [Output], DispatchQueue)
    }

    private let queue = Mutex(Queue())
    private let runner: Runner

    /// Runs each group with `run` (one transaction or query; returns one output per item, in order).
    init(run: @escaping @Sendable ([Item]) async throws(StoreError) -> [Output]) {
        runner = .async(run)
    }

    /// Runs each group with a blocking `run` on a serial queue of its own: no
    /// concurrency-pool thread ever waits for the disk, and an item passes two
    /// threads (caller, runner) instead of four (caller, flush task, database
    /// queue, flush task again).
    init(label: String, blocking run: @escaping @Sendable ([Item]) throws(StoreError) -> [Output]) {
        runner = .blocking(run, DispatchQueue(label: label, qos: .userInitiated))
    }

    func submit(_ item: Item) async throws(StoreError) -> Output {
        let result: Result<Output, StoreError> = await withCheckedContinuation { continuation in
            enqueue(Waiting(item: item, continuation: continuation))
        }
        return try result.get()
    }

    /// Queues an item for the next group without waiting for it to be
    /// written: for records nobody reads back right away (a delivery log),
    /// whose write should not hold up the caller. The runner reports its own
    /// failures; nothing is returned here.
    func post(_ item: Item) {
        enqueue(Waiting(item: item, continuation: nil))
    }

    private func enqueue(_ waiting: Waiting) {
        let startFlush = queue.withLock { q -> Bool in
            q.waiting.append(waiting)
            if q.flushing { return false }
            q.flushing = true
            return true
        }
        // The caller that found no flush running starts one; it ends when nothing is left.
        guard startFlush else { return }
        switch runner {
        case .async(let run): Task { await self.flush(run) }
        case .blocking(let run, let thread): thread.async { self.flushBlocking(run) }
        }
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

    private func flush(_ run: @Sendable ([Item]) async throws(StoreError) -> [Output]) async {
        while let batch = nextBatch() {
            let outcome: Result<[Output], StoreError>
            do { outcome = .success(try await run(batch.map(\.item))) } catch { outcome = .failure(error) }
            Self.finish(batch, outcome)
        }
    }

    private func flushBlocking(_ run: @Sendable ([Item]) throws(StoreError) -> [Output]) {
        while let batch = nextBatch() {
            let outcome: Result<[Output], StoreError>
            do { outcome = .success(try run(batch.map(\.item))) } catch { outcome = .failure(error) }
            Self.finish(batch, outcome)
        }
    }

    /// Hands each caller of a finished (or failed) group its own outcome.
    private static func finish(_ batch: [Waiting], _ outcome: Result<[Output], StoreError>) {
        switch outcome {
        case .success(let outputs) where outputs.count == batch.count:
            for (w, o) in zip(batch, outputs) { w.continuation?.resume(returning: .success(o)) }
        case .success(let outputs):
            let error = StoreError(.unavailable, "a batched store call returned \(outputs.count) results for \(batch.count) items")
            for w in batch { w.continuation?.resume(returning: .failure(error)) }
        case .failure(let error):
            for w in batch { w.continuation?.resume(returning: .failure(error)) }
        }
    }
}
