import Foundation
public import Logging
import Model
public import ServiceLifecycle
import Synchronization

/// Keeps the projections of typed documents current after commits, off the
/// rooms: a commit only marks its document dirty (no suspension, no I/O);
/// this service rebuilds dirty documents in batches: each document of a
/// batch is read from the store and projected, and the batch's rows are
/// written in one transaction (on SQLite, whose one writer the appends also
/// need, a transaction per document could not keep up with a busy server).
/// A document is in at most one batch at a time and the latest state wins:
/// one committed to during its rebuild is rebuilt once more after it. A
/// rebuild reads the document from the store, so it sees every commit that
/// marked it.
///
/// Changed rows trigger jobs (``ProjectionTriggers``): nothing scans documents for work.
public final class Projector: Service {
    private struct State {
        /// Documents to rebuild, with the latest commit that marked them.
        var dirty: [String: Int] = [:]
    }

    private let store: any DocumentStore & ProjectionStore
    private let triggers: ProjectionTriggers?
    private let state = Mutex(State())
    private let wakeup = Wakeup()
    private let batchLimit: Int
    private let logger: Logger
    /// Called after each rebuild that replaced rows (for tests and the benchmark).
    private let onProjected: @Sendable (DocumentProjection) -> Void

    /// - Parameter batchLimit: documents rebuilt and written together at most. Default 64.
    public init(store: any DocumentStore & ProjectionStore, triggers: ProjectionTriggers?, batchLimit: Int = 64, logger: Logger,
                onProjected: @escaping @Sendable (DocumentProjection) -> Void = { _ in }) {
        self.store = store
        self.triggers = triggers
        self.batchLimit = batchLimit
        self.logger = logger
        self.onProjected = onProjected
    }

    /// Marks a document changed by the commit at `seq`. Cheap: called by rooms after every commit.
    public func committed(documentID: String, seq: Int) {
        state.withLock { $0.dirty[documentID] = max($0.dirty[documentID] ?? 0, seq) }
        wakeup.signal()
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let batch = take()
            if batch.isEmpty {
                await wakeup.wait(timeout: .seconds(1))
                continue
            }
            // A store that failed is given a second before the documents are tried again.
            if await rebuildBatch(batch).retried { await wakeup.wait(timeout: .seconds(1)) }
        }
    }

    /// Up to `batchLimit` dirty documents, taken out of the dirty set.
    private func take() -> [String] {
        state.withLock { s -> [String] in
            let ids = Array(s.dirty.keys.prefix(batchLimit))
            for id in ids { s.dirty[id] = nil }
            return ids
        }
    }

    /// Rebuilds one document's rows from the store; returns them when they replaced the stored ones.
    @discardableResult
    public func rebuild(_ documentID: String) async -> DocumentProjection? {
        await rebuild([documentID]).first
    }

    /// Rebuilds documents' rows from the store, written in one transaction;
    /// returns the projections that replaced stored rows. Documents the store
    /// could not serve stay dirty and are tried again.
    @discardableResult
    func rebuild(_ ids: [String]) async -> [DocumentProjection] {
        await rebuildBatch(ids).written
    }

    private func rebuildBatch(_ ids: [String]) async -> (written: [DocumentProjection], retried: Bool) {
        let store = self.store
        typealias Read = (String, Result<(DocumentProjection, [DocumentNotice])?, any Error>)
        let read: [Read] = await withTaskGroup(of: Read.self) { group in
            for id in ids {
                group.addTask {
                    do {
                        let stored = try await store.load(documentID: id)
                        return (id, .success(try DocumentProjector.projectWithNotices(documentID: id, stored: stored, now: Date())))
                    } catch {
                        return (id, .failure(error))
                    }
                }
            }
            var out: [Read] = []
            for await r in group { out.append(r) }
            return out
        }
        var projections: [DocumentProjection] = []
        var notices: [String: [DocumentNotice]] = [:]
        var retry: [String] = []
        for (id, result) in read {
            switch result {
            case .success(let (p, n)?):
                projections.append(p)
                notices[id] = n
            case .success(nil): break
            case .failure(let error as StoreError):
                logger.warning("projection rebuild failed", metadata: ["document": "\(id)", "error": "\(error)"])
                retry.append(id)
            case .failure(let error):
                logger.warning("document not projected", metadata: ["document": "\(id)", "reason": "\(error)"])
            }
        }
        var written: [DocumentProjection] = []
        if !projections.isEmpty {
            do {
                let replaced = try await store.replaceProjections(projections)
                written = zip(projections, replaced).filter(\.1).map(\.0)
            } catch {
                logger.warning("projections not written", metadata: ["documents": "\(projections.count)", "error": "\(error)"])
                retry += projections.map(\.documentID)
            }
        }
        for p in written {
            do {
                try await triggers?.projected(p, notices: notices[p.documentID] ?? [])
            } catch {
                logger.warning("projection triggers failed", metadata: ["document": "\(p.documentID)", "error": "\(error)"])
                retry.append(p.documentID)
            }
            onProjected(p)
        }
        if !retry.isEmpty {
            state.withLock { s in for id in retry where s.dirty[id] == nil { s.dirty[id] = 0 } }
        }
        return (written, !retry.isEmpty)
    }
}

/// What projected rows start: an AI request still `requested` becomes one
/// AI job (its unique key makes repeats of the same request one job).
public final class ProjectionTriggers: Sendable {
    private let jobs: any JobStore
    private let wakeup: Wakeup
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let offPeak: OffPeakWindow?

    /// - Parameter offPeak: low-priority AI requests are scheduled to start in this window; nil: at once.
    /// Where conflicts and mentions become notifications; nil: nobody is told.
    private let relay: PushRelay?

    public init(jobs: any JobStore, wakeup: Wakeup, logger: Logger, offPeak: OffPeakWindow? = nil, now: @escaping @Sendable () -> Int64,
                relay: PushRelay? = nil) {
        self.relay = relay
        self.jobs = jobs
        self.wakeup = wakeup
        self.logger = logger
        self.offPeak = offPeak
        self.now = now
    }

    /// The unique key of a request's AI job.
    public static func aiJobKey(documentID: String, requestID: String) -> String { "ai:\(documentID):\(requestID)" }

    /// Queues the jobs `p`'s rows call for (the projector calls it after each rebuild that replaced rows).
    /// - Throws: the store's error; the projector then rebuilds the document again.
    public func startJobs(for p: DocumentProjection) async throws(StoreError) {
        try await projected(p)
    }

    func projected(_ p: DocumentProjection, notices: [DocumentNotice] = []) async throws(StoreError) {
        if let relay {
            let title = p.drafts.first?.title ?? ""
            // Unique keys: a notice already told (on this or another node, before a restart) is not told again.
            for n in notices {
                let (notification, key) = n.notification(documentID: p.documentID, title: title)
                try await relay.notify(notification, uniqueKey: key)
            }
        }
        for r in p.aiRequests where r.status == AIStatus.requested.rawValue {
            let args = AIJobArguments(documentID: r.documentID, requestID: r.requestID)
            let t = now()
            let low = r.priority == "low"
            let runAt = low ? offPeak.map { epochMillis($0.nextStart(onOrAfter: Date(timeIntervalSince1970: Double(t) / 1000))) } : nil
            let result = try await jobs.enqueue(
                NewJob(kind: .aiGenerate, workspace: r.workspace, documentID: r.documentID, documentVersion: p.version,
                       uniqueKey: Self.aiJobKey(documentID: r.documentID, requestID: r.requestID), arguments: args.json,
                       priority: low ? 2 : 1, runAt: runAt),
                now: t)
            if case .inserted = result {
                logger.debug("AI job queued", metadata: ["document": "\(r.documentID)", "request": "\(r.requestID)"])
                wakeup.signal()
            }
        }
    }
}
