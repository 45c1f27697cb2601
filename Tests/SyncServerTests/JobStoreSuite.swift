import Testing
import Foundation
import SyncServer
import TestHarness
import TestBasics

/// The test suite every `JobStore` must pass (SQLite and PostgreSQL), with
/// times passed in, so that leases and retries are tested without waiting.
enum JobStoreSuite {
    typealias Store = any DocumentStore & JobStore & ProjectionStore & AIUsageStore

    static func job(_ n: Int, key: String? = nil, runAt: Int64? = nil, maxAttempts: Int = 3, kind: JobKind = .noop) -> NewJob {
        NewJob(kind: kind, workspace: "w1", documentID: "w1/draft/d\(n)", documentVersion: n, uniqueKey: key,
               arguments: "{\"n\":\(n)}", maxAttempts: maxAttempts, runAt: runAt)
    }

    /// Fifty inserts of one key at the same time make one row; every caller learns its id.
    static func uniqueUnderConcurrency(_ store: Store) async throws {
        try await store.migrate()
        let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
            for _ in 0..<50 { group.addTask { try await store.enqueue(job(1, key: "ai:w1/draft/d1:r1"), now: 1_000) } }
            var out: [EnqueueResult] = []
            for try await r in group { out.append(r) }
            return out
        }
        let inserted = results.filter { if case .inserted = $0 { true } else { false } }
        #expect(inserted.count == 1, "\(results)")
        #expect(Set(results.map(\.id)).count == 1)
        #expect(try await store.jobs(state: nil, kind: nil, limit: 100).count == 1)
        // A finished job keeps its key: a request synced again after its answer is not a new job.
        let claimed = try await store.claim(kinds: [], worker: "a", limit: 10, leaseMillis: 1_000, now: 1_000)
        #expect(try await store.complete(claimed[0].claim, result: "{}", now: 1_001))
        #expect(try await store.enqueue(job(1, key: "ai:w1/draft/d1:r1"), now: 2_000) == .duplicate(claimed[0].id))
        // Jobs without a key are never duplicates.
        #expect(try await store.enqueue(job(2), now: 2_000) != store.enqueue(job(2), now: 2_000))
    }

    /// Four workers claiming at the same time take every job exactly once.
    static func claimsAreExclusive(_ store: Store) async throws {
        try await store.migrate()
        for n in 0..<200 { _ = try await store.enqueue(job(n), now: 1_000) }
        let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for w in 0..<4 {
                group.addTask {
                    var mine: [Int64] = []
                    while true {
                        let batch = try await store.claim(kinds: [.noop], worker: "w\(w)", limit: 7, leaseMillis: 60_000, now: 2_000)
                        if batch.isEmpty { return mine }
                        for j in batch {
                            #expect(j.state == .running && j.attempt == 1 && j.attemptedBy == "w\(w)" && j.leaseUntil == 62_000)
                            #expect(try await store.complete(j.claim, result: "done", now: 2_001))
                        }
                        mine += batch.map(\.id)
                    }
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(claims.count == 200)
        #expect(Set(claims).count == 200, "a job was claimed twice")
        #expect(try await store.jobCounts()[.noop]?[.completed] == 200)
        // Another kind's worker takes nothing of these.
        _ = try await store.enqueue(job(300), now: 3_000)
        #expect(try await store.claim(kinds: [.aiGenerate], worker: "x", limit: 10, leaseMillis: 1_000, now: 3_000).isEmpty)
    }

    /// A worker that stops answering loses its job after its lease: the job
    /// runs again elsewhere, and the first worker cannot finish it.
    static func rescueAfterLease(_ store: Store) async throws {
        try await store.migrate()
        let id = try await store.enqueue(job(1), now: 0).id
        let first = try #require(try await store.claim(kinds: [], worker: "dead", limit: 1, leaseMillis: 1_000, now: 0).first)
        #expect(try await store.renewLease(first.claim, until: 3_000))
        #expect(try await store.rescueExpired(now: 2_999) == 0)
        #expect(try await store.rescueExpired(now: 3_001) == 1)
        let rescued = try #require(try await store.job(id: id))
        #expect(rescued.state == .retryable && rescued.errors.count == 1 && rescued.errors[0].worker == "dead")
        let second = try #require(try await store.claim(kinds: [], worker: "alive", limit: 1, leaseMillis: 1_000, now: 3_001).first)
        #expect(second.attempt == 2)
        #expect(try await !store.complete(first.claim, result: "late", now: 3_002), "the stale worker completed a rescued job")
        #expect(try await !store.renewLease(first.claim, until: 9_000))
        #expect(try await store.fail(first.claim, error: "late", retryAt: 4_000, now: 3_002) == nil)
        #expect(try await store.complete(second.claim, result: "ok", now: 3_003))
        let done = try #require(try await store.job(id: id))
        #expect(done.state == .completed && done.result == "ok" && done.finalizedAt == 3_003)
        // With no attempt left, a lost lease discards the job.
        let one = try await store.enqueue(job(2, maxAttempts: 1), now: 0).id
        _ = try await store.claim(kinds: [], worker: "dead", limit: 1, leaseMillis: 10, now: 5_000)
        #expect(try await store.rescueExpired(now: 6_000) == 1)
        #expect(try await store.job(id: one)?.state == .discarded)
    }

    /// Failures retry at the time given, keep every attempt's error, and end discarded.
    static func retriesThenDiscard(_ store: Store) async throws {
        try await store.migrate()
        let id = try await store.enqueue(job(1), now: 0).id
        var t: Int64 = 0
        for attempt in 1...3 {
            let j = try #require(try await store.claim(kinds: [], worker: "w", limit: 1, leaseMillis: 1_000, now: t).first)
            #expect(j.attempt == attempt)
            let state = try await store.fail(j.claim, error: "boom \(attempt)", retryAt: t + 500, now: t + 1)
            #expect(state == (attempt < 3 ? .retryable : .discarded))
            if attempt < 3 {
                #expect(try await store.claim(kinds: [], worker: "w", limit: 1, leaseMillis: 1_000, now: t + 499).isEmpty, "claimed before its retry time")
            }
            t += 500
        }
        let j = try #require(try await store.job(id: id))
        #expect(j.state == .discarded && j.errors.map(\.message) == ["boom 1", "boom 2", "boom 3"] && j.errors.map(\.attempt) == [1, 2, 3])
        // A retry by hand grants one more attempt.
        let again = try #require(try await store.retry(id: id, now: 10_000))
        #expect(again.state == .available && again.maxAttempts == 4 && again.finalizedAt == nil)
        let claimed = try #require(try await store.claim(kinds: [], worker: "w", limit: 1, leaseMillis: 1_000, now: 10_000).first)
        #expect(claimed.attempt == 4)
        // A failure no retry mends discards at once.
        #expect(try await store.fail(claimed.claim, error: "bad key", retryAt: nil, now: 10_001) == .discarded)
    }

    /// Scheduled jobs wait for their time; cancellation stops queued and running jobs.
    static func scheduleAndCancel(_ store: Store) async throws {
        try await store.migrate()
        let later = try await store.enqueue(job(1, key: "k1", runAt: 5_000), now: 1_000).id
        #expect(try await store.job(id: later)?.state == .scheduled)
        #expect(try await store.claim(kinds: [], worker: "w", limit: 5, leaseMillis: 1_000, now: 4_999).isEmpty)
        #expect(try await store.cancel(uniqueKey: "k1", now: 4_000)?.state == .cancelled)
        #expect(try await store.claim(kinds: [], worker: "w", limit: 5, leaseMillis: 1_000, now: 6_000).isEmpty)
        let running = try await store.enqueue(job(2), now: 6_000).id
        let j = try #require(try await store.claim(kinds: [], worker: "w", limit: 5, leaseMillis: 1_000, now: 6_000).first)
        #expect(try await store.cancel(id: running, now: 6_100)?.state == .cancelled)
        #expect(try await !store.renewLease(j.claim, until: 9_000), "a cancelled job's lease was renewed")
        #expect(try await !store.complete(j.claim, result: "x", now: 6_200))
        // Finished jobs stay as they are.
        #expect(try await store.cancel(id: running, now: 6_300)?.finalizedAt == 6_100)
        #expect(try await store.cancel(id: 999_999, now: 0) == nil)
        // Priority first, then run-at.
        let low = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/a", documentVersion: 1, priority: 5), now: 7_000).id
        let high = try await store.enqueue(NewJob(kind: .noop, workspace: "w", documentID: "w/draft/b", documentVersion: 1, priority: 0), now: 7_500).id
        #expect(try await store.claim(kinds: [], worker: "w", limit: 2, leaseMillis: 1_000, now: 8_000).map(\.id) == [high, low])
    }

    /// A document's projection rows are replaced whole, never by an older version.
    static func projections(_ store: Store) async throws {
        try await store.migrate()
        let v2 = DocumentProjection(
            documentID: "w1/draft/a", workspace: "w1", version: 2,
            drafts: [DraftRow(documentID: "w1/draft/a", workspace: "w1", draftID: "a", title: "T", status: "draft", platforms: ["x", "instagram"], updatedSeq: 2)],
            aiRequests: [AIRequestRow(documentID: "w1/draft/a", requestID: "r1", workspace: "w1", kind: "caption", status: "requested")])
        #expect(try await store.replaceProjection(v2))
        #expect(try await store.projection(documentID: "w1/draft/a") == v2)
        var v1 = v2
        v1.version = 1
        v1.drafts[0].title = "old"
        #expect(try await !store.replaceProjection(v1), "an older version replaced a newer one")
        var v3 = v2
        v3.version = 3
        v3.aiRequests = []
        v3.drafts[0].platforms = []
        #expect(try await store.replaceProjection(v3))
        #expect(try await store.projection(documentID: "w1/draft/a") == v3)
        let cal = DocumentProjection(documentID: "w2/calendar/main", workspace: "w2", version: 4, calendarEntries: [
            CalendarEntryRow(workspace: "w2", entryID: "e2", draft: "w2/draft/b", platform: "x", dueAt: 1_800_000_000_000, status: "scheduled"),
            CalendarEntryRow(workspace: "w2", entryID: "e1", draft: "w2/draft/a", platform: "linkedin", dueAt: 1_700_000_000_000, status: "cancelled"),
        ])
        #expect(try await store.replaceProjection(cal))
        #expect(try await store.projections(workspace: "w2") == [cal])
        #expect(try await store.projections(workspace: nil).map(\.documentID) == ["w1/draft/a", "w2/calendar/main"])
        try await store.clearProjections(workspace: "w1")
        #expect(try await store.projection(documentID: "w1/draft/a") == nil)
        #expect(try await store.projection(documentID: "w2/calendar/main") == cal)
        _ = try await store.append(documentID: "w3/draft/z", update: [0, 0], userID: "u")
        _ = try await store.append(documentID: "w30/draft/y", update: [0, 0], userID: "u")
        #expect(try await store.documentIDs(workspace: "w3") == ["w3/draft/z"])
    }
}

extension JobStoreSuite {
    /// Usage counts once per request, per workspace and month; the first answer kept for a prompt stays.
    static func aiUsage(_ store: Store) async throws {
        try await store.migrate()
        let u = ChatUsage(promptTokens: 40, completionTokens: 10, cacheHitTokens: 5)
        try await store.recordAIUsage(workspace: "w1", month: "2026-12", requestKey: "ai:a", usage: u, now: 1)
        try await store.recordAIUsage(workspace: "w1", month: "2026-12", requestKey: "ai:a", usage: u, now: 2)
        try await store.recordAIUsage(workspace: "w1", month: "2026-12", requestKey: "ai:b", usage: u, now: 3)
        try await store.recordAIUsage(workspace: "w1", month: "2026-11", requestKey: "ai:c", usage: u, now: 4)
        try await store.recordAIUsage(workspace: "w2", month: "2026-12", requestKey: "ai:d", usage: u, now: 5)
        #expect(try await store.aiTokensUsed(workspace: "w1", month: "2026-12") == 100)
        #expect(try await store.aiTokensUsed(workspace: "w3", month: "2026-12") == 0)
        #expect(try await store.cachedAIAnswer(promptKey: "k") == nil)
        let first = CachedAIAnswer(text: "café ☕️", flags: ["too long"], model: "m")
        try await store.cacheAIAnswer(promptKey: "k", first, now: 1)
        try await store.cacheAIAnswer(promptKey: "k", CachedAIAnswer(text: "other", flags: [], model: "m"), now: 2)
        #expect(try await store.cachedAIAnswer(promptKey: "k") == first)
    }
}

@Suite("Job store on SQLite")
struct SQLiteJobStoreTests {
    func store() throws -> SQLiteDocumentStore { try SQLiteStoreTests.freshStore().0 }
    @Test func uniqueUnderConcurrency() async throws { try await JobStoreSuite.uniqueUnderConcurrency(try store()) }
    @Test func claimsAreExclusive() async throws { try await JobStoreSuite.claimsAreExclusive(try store()) }
    @Test func rescueAfterLease() async throws { try await JobStoreSuite.rescueAfterLease(try store()) }
    @Test func retriesThenDiscard() async throws { try await JobStoreSuite.retriesThenDiscard(try store()) }
    @Test func scheduleAndCancel() async throws { try await JobStoreSuite.scheduleAndCancel(try store()) }
    @Test func projections() async throws { try await JobStoreSuite.projections(try store()) }
    @Test func aiUsage() async throws { try await JobStoreSuite.aiUsage(try store()) }
}

@Suite("Job store on PostgreSQL")
struct PostgresJobStoreTests {
    @Test func uniqueUnderConcurrency() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.uniqueUnderConcurrency($0) } }
    @Test func claimsAreExclusive() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.claimsAreExclusive($0) } }
    @Test func rescueAfterLease() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.rescueAfterLease($0) } }
    @Test func retriesThenDiscard() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.retriesThenDiscard($0) } }
    @Test func scheduleAndCancel() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.scheduleAndCancel($0) } }
    @Test func projections() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.projections($0) } }
    @Test func aiUsage() async throws { try await PostgresStoreTests.withStore { try await JobStoreSuite.aiUsage($0) } }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("equal jitter stays between half the doubling ceiling and all of it, within the cap, and never under Retry-After")
    func bounds() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SeededRandom(seed: seed)
        let policy = RetryPolicy(base: .seconds(2), cap: .seconds(60))
        var sums = [Int64](repeating: 0, count: 8)
        for _ in 0..<2_000 {
            for attempt in 1...8 {
                let ceiling = min(60_000, 2_000 << (attempt - 1))
                let d = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &random).milliseconds
                #expect(d >= Int64(ceiling / 2) && d <= Int64(ceiling), "seed \(seed): attempt \(attempt) waited \(d) ms")
                sums[attempt - 1] += d
                let after = policy.delay(afterAttempt: attempt, retryAfter: .seconds(90), using: &random).milliseconds
                #expect(after >= 90_000, "seed \(seed): Retry-After not honoured (\(after) ms)")
            }
        }
        // The mean of an equal jitter is three quarters of its ceiling: attempts wait longer as they go, up to the cap.
        let means = sums.map { Double($0) / 2_000 }
        for (i, m) in means.enumerated() {
            let expected = Double(min(60_000, 2_000 << i)) * 0.75
            #expect(abs(m - expected) < expected * 0.05, "seed \(seed): attempt \(i + 1) mean \(m) ms, expected about \(expected)")
        }
    }
}
