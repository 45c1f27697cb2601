public import Logging
import Model
public import ServiceLifecycle
import Synchronization

/// Keeps the projections of typed documents current after commits, off the
/// rooms: a commit only marks its document dirty (no suspension, no I/O);
/// this service rebuilds dirty documents, at most one rebuild per document
/// in flight and the latest state winning (a document committed to during
/// its rebuild is rebuilt once more after it). A rebuild reads the document
/// from the store, so it sees every commit that marked it.
///
/// Changed rows trigger jobs (``ProjectionTriggers``): nothing scans documents for work.
public final class Projector: Service {
    private struct State {
        /// Documents to rebuild, with the commit that marked them.
        var dirty: [String: Int] = [:]
        var inFlight: Set<String> = []
    }

    private let store: any DocumentStore & ProjectionStore
    private let triggers: ProjectionTriggers?
    private let state = Mutex(State())
    private let wakeup = Wakeup()
    private let concurrency: Int
    private let logger: Logger
    /// Called after each rebuild that replaced rows (for tests and the benchmark).
    private let onProjected: @Sendable (DocumentProjection) -> Void

    public init(store: any DocumentStore & ProjectionStore, triggers: ProjectionTriggers?, concurrency: Int = 4, logger: Logger,
                onProjected: @escaping @Sendable (DocumentProjection) -> Void = { _ in }) {
        self.store = store
        self.triggers = triggers
        self.concurrency = concurrency
        self.logger = logger
        self.onProjected = onProjected
    }

    /// Marks a document changed by the commit at `seq`. Cheap: called by rooms after every commit.
    public func committed(documentID: String, seq: Int) {
        state.withLock { $0.dirty[documentID] = max($0.dirty[documentID] ?? 0, seq) }
        wakeup.signal()
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                while let next = take() {
                    group.addTask {
                        await self.rebuild(next)
                        self.state.withLock { _ = $0.inFlight.remove(next) }
                        self.wakeup.signal()
                    }
                }
                await wakeup.wait(timeout: .seconds(1))
            }
        }
    }

    /// The next dirty document not being rebuilt, if a slot is free.
    private func take() -> String? {
        state.withLock { s -> String? in
            guard s.inFlight.count < concurrency, let id = s.dirty.keys.first(where: { !s.inFlight.contains($0) }) else { return nil }
            s.dirty[id] = nil
            s.inFlight.insert(id)
            return id
        }
    }

    /// Rebuilds one document's rows from the store; returns them when they replaced the stored ones.
    @discardableResult
    public func rebuild(_ documentID: String) async -> DocumentProjection? {
        do {
            let stored = try await store.load(documentID: documentID)
            guard let projection = try DocumentProjector.project(documentID: documentID, stored: stored) else { return nil }
            guard try await store.replaceProjection(projection) else { return nil }
            try await triggers?.projected(projection)
            onProjected(projection)
            return projection
        } catch let error as StoreError {
            // A passing store failure: the document stays dirty and is tried again.
            logger.warning("projection rebuild failed", metadata: ["document": "\(documentID)", "error": "\(error)"])
            state.withLock { s in s.dirty[documentID] = s.dirty[documentID] ?? 0 }
            return nil
        } catch {
            logger.warning("document not projected", metadata: ["document": "\(documentID)", "reason": "\(error)"])
            return nil
        }
    }
}

/// What projected rows start: an AI request still `requested` becomes one
/// AI job (its unique key makes repeats of the same request one job).
public final class ProjectionTriggers: Sendable {
    private let jobs: any JobStore
    private let wakeup: Wakeup
    private let logger: Logger
    private let now: @Sendable () -> Int64

    public init(jobs: any JobStore, wakeup: Wakeup, logger: Logger, now: @escaping @Sendable () -> Int64) {
        self.jobs = jobs
        self.wakeup = wakeup
        self.logger = logger
        self.now = now
    }

    /// The unique key of a request's AI job.
    public static func aiJobKey(documentID: String, requestID: String) -> String { "ai:\(documentID):\(requestID)" }

    /// - Throws: the store's error; the projector then rebuilds the document again.
    func projected(_ p: DocumentProjection) async throws(StoreError) {
        for r in p.aiRequests where r.status == AIStatus.requested.rawValue {
            let args = AIJobArguments(documentID: r.documentID, requestID: r.requestID)
            let result = try await jobs.enqueue(
                NewJob(kind: .aiGenerate, workspace: r.workspace, documentID: r.documentID, documentVersion: p.version,
                       uniqueKey: Self.aiJobKey(documentID: r.documentID, requestID: r.requestID), arguments: args.json),
                now: now())
            if case .inserted = result {
                logger.debug("AI job queued", metadata: ["document": "\(r.documentID)", "request": "\(r.requestID)"])
                wakeup.signal()
            }
        }
    }
}
