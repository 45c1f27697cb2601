import Synchronization

/// Group commit for small store calls (job completions, delivery log rows,
/// device lookups): what arrives while a call runs goes into the next one
/// together, so a busy worker pays one transaction or query per group instead
/// of per item, and an idle one waits for nothing. Each caller returns once
/// its own item is done, with its own result.
final class StoreBatcher<Item: Sendable, Output: Sendable>: Sendable {
    private struct Waiting: Sendable {
        var item: Item
        var continuation: CheckedContinuation<Result<Output, StoreError>, Never>
    }

    private struct Queue: Sendable {
        var waiting: [Waiting] = []
        var flushing = false
    }

    private let queue = Mutex(Queue())
    /// Runs a group in one transaction or query; returns one output per item, in order.
    private let write: @Sendable ([Item]) async throws(StoreError) -> [Output]

    init(write: @escaping @Sendable ([Item]) async throws(StoreError) -> [Output]) {
        self.write = write
    }

    func submit(_ item: Item) async throws(StoreError) -> Output {
        let result: Result<Output, StoreError> = await withCheckedContinuation { continuation in
            let startFlush = queue.withLock { q -> Bool in
                q.waiting.append(Waiting(item: item, continuation: continuation))
                if q.flushing { return false }
                q.flushing = true
                return true
            }
            // The caller that found no flush running starts one; it ends when nothing is left.
            if startFlush { Task { await self.flush() } }
        }
        return try result.get()
    }

    private func flush() async {
        while let batch = queue.withLock({ q -> [Waiting]? in
            let b = q.waiting
            q.waiting = []
            if b.isEmpty { q.flushing = false }
            return b.isEmpty ? nil : b
        }) {
            let outcome: Result<[Output], StoreError>
            do { outcome = .success(try await write(batch.map(\.item))) } catch { outcome = .failure(error) }
            switch outcome {
            case .success(let outputs) where outputs.count == batch.count:
                for (w, o) in zip(batch, outputs) { w.continuation.resume(returning: .success(o)) }
            case .success(let outputs):
                let error = StoreError(.unavailable, "a batched store call returned \(outputs.count) results for \(batch.count) items")
                for w in batch { w.continuation.resume(returning: .failure(error)) }
            case .failure(let error):
                for w in batch { w.continuation.resume(returning: .failure(error)) }
            }
        }
    }
}
