import Foundation
import PostgresNIO

/// The job queue on PostgreSQL: claims lock the due rows they take with
/// `FOR UPDATE SKIP LOCKED` inside a CTE (which keeps the planner from
/// locking more rows than the limit), so workers on any number of nodes
/// never take the same job; an insert notifies `nest_jobs` (delivered at
/// commit) so that idle workers wake at once.
extension PostgresDocumentStore: JobStore {
    /// The channel job inserts are announced on.
    public static let jobChannel = "nest_jobs"

    static let returning = JobSchema.columns.split(separator: ",").map { "jobs." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")

    public func enqueue(_ job: NewJob, now: Int64) async throws(StoreError) -> EnqueueResult {
        guard !job.documentID.isEmpty, job.maxAttempts >= 1 else { throw StoreError(.invalidArgument, "a job needs a document and at least one attempt") }
        let runAt = job.runAt ?? now
        let state = (runAt > now ? JobState.scheduled : .available).rawValue
        let (kind, version) = (job.kind.rawValue, Int64(job.documentVersion))
        return try await run("enqueue") { [self] in
            let inserted = try await client.query("""
                WITH ins AS (
                    INSERT INTO jobs (kind, workspace, doc_id, doc_version, unique_key, args, state, max_attempts, priority, run_at, created_at)
                    VALUES (\(kind), \(job.workspace), \(job.documentID), \(version), \(job.uniqueKey), \(job.arguments), \(state),
                            \(job.maxAttempts), \(job.priority), \(runAt), \(now))
                    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
                    RETURNING id)
                SELECT ins.id FROM ins CROSS JOIN LATERAL (SELECT pg_notify(\(Self.jobChannel), \(kind))) AS n(x)
                """, logger: logger)
            for try await id in inserted.decode(Int64.self) { return EnqueueResult.inserted(id) }
            // The key exists (a concurrent insert waited for the other's commit, then did nothing).
            let existing = try await client.query("SELECT id FROM jobs WHERE unique_key = \(job.uniqueKey)", logger: logger)
            for try await id in existing.decode(Int64.self) { return EnqueueResult.duplicate(id) }
            throw StoreError(.unavailable, "enqueue inserted nothing and found no job with key \(job.uniqueKey ?? "-")")
        }
    }

    public func claim(kinds: [JobKind], worker: String, limit: Int, leaseMillis: Int64, now: Int64) async throws(StoreError) -> [Job] {
        guard limit > 0 else { return [] }
        let names = kinds.map(\.rawValue)
        return try await run("claim") { [self] in
            let rows = try await client.query("""
                WITH due AS (
                    SELECT id FROM jobs
                    WHERE state IN \(unescaped: JobSchema.due) AND run_at <= \(now) AND (cardinality(\(names)::text[]) = 0 OR kind = ANY(\(names)::text[]))
                    ORDER BY priority, run_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, attempted_by = \(worker), lease_until = \(now + leaseMillis)
                FROM due WHERE jobs.id = due.id
                RETURNING \(unescaped: Self.returning)
                """, logger: logger)
            var out: [Job] = []
            for try await row in rows { out.append(try Self.job(row)) }
            return out.sorted { ($0.priority, $0.runAt, $0.id) < ($1.priority, $1.runAt, $1.id) }
        }
    }

    public func renewLease(_ claim: JobClaim, until: Int64) async throws(StoreError) -> Bool {
        try await changed("renew lease", """
            UPDATE jobs SET lease_until = \(until)
            WHERE id = \(claim.id) AND state = 'running' AND attempt = \(claim.attempt) AND attempted_by = \(claim.worker) RETURNING id
            """)
    }

    public func complete(_ claim: JobClaim, result: String, now: Int64) async throws(StoreError) -> Bool {
        try await changed("complete", """
            UPDATE jobs SET state = 'completed', result = \(result), finalized_at = \(now), lease_until = NULL
            WHERE id = \(claim.id) AND state = 'running' AND attempt = \(claim.attempt) AND attempted_by = \(claim.worker) RETURNING id
            """)
    }

    public func completeAll(_ completions: [JobCompletion], now: Int64) async throws(StoreError) -> [Bool] {
        guard !completions.isEmpty else { return [] }
        let ids = completions.map(\.claim.id), attempts = completions.map(\.claim.attempt), workers = completions.map(\.claim.worker)
        let results = completions.map(\.result)
        // One statement for the group: each row changes only while it is still that worker's running attempt.
        let done: Set<Int64> = try await run("complete") { [self] in
            var out = Set<Int64>()
            for try await id in try await client.query("""
                UPDATE jobs SET state = 'completed', result = c.result, finalized_at = \(now), lease_until = NULL
                FROM unnest(\(ids)::bigint[], \(attempts)::int[], \(workers)::text[], \(results)::text[]) AS c(id, attempt, worker, result)
                WHERE jobs.id = c.id AND jobs.state = 'running' AND jobs.attempt = c.attempt AND jobs.attempted_by = c.worker
                RETURNING jobs.id
                """, logger: logger).decode(Int64.self) { out.insert(id) }
            return out
        }
        return ids.map { done.contains($0) }
    }

    private func changed(_ what: String, _ query: PostgresQuery) async throws(StoreError) -> Bool {
        try await run(what) { [self] in
            for try await _ in try await client.query(query, logger: logger).decode(Int64.self) { return true }
            return false
        }
    }

    public func fail(_ claim: JobClaim, error: String, retryAt: Int64?, now: Int64) async throws(StoreError) -> JobState? {
        let entry = try Self.errorJSON(JobAttemptError(attempt: claim.attempt, at: now, worker: claim.worker, message: error))
        return try await run("fail") { [self] in
            let rows = try await client.query("""
                UPDATE jobs SET
                    state = CASE WHEN \(retryAt)::bigint IS NOT NULL AND attempt < max_attempts THEN 'retryable' ELSE 'discarded' END,
                    run_at = CASE WHEN \(retryAt)::bigint IS NOT NULL AND attempt < max_attempts THEN \(retryAt)::bigint ELSE run_at END,
                    finalized_at = CASE WHEN \(retryAt)::bigint IS NOT NULL AND attempt < max_attempts THEN NULL ELSE \(now)::bigint END,
                    errors = (errors::jsonb || jsonb_build_array(\(entry)::jsonb))::text, lease_until = NULL
                WHERE id = \(claim.id) AND state = 'running' AND attempt = \(claim.attempt) AND attempted_by = \(claim.worker)
                RETURNING state
                """, logger: logger)
            for try await state in rows.decode(String.self) {
                guard let s = JobState(rawValue: state) else { throw StoreError(.corrupt, "unknown job state \(state)") }
                return s
            }
            return nil
        }
    }

    public func rescueExpired(now: Int64) async throws(StoreError) -> Int {
        try await run("rescue") { [self] in
            let rows = try await client.query("""
                WITH lost AS (SELECT id FROM jobs WHERE state = 'running' AND lease_until < \(now) FOR UPDATE SKIP LOCKED)
                UPDATE jobs SET
                    state = CASE WHEN attempt < max_attempts THEN 'retryable' ELSE 'discarded' END,
                    finalized_at = CASE WHEN attempt < max_attempts THEN NULL ELSE \(now)::bigint END,
                    run_at = \(now), lease_until = NULL,
                    errors = (errors::jsonb || jsonb_build_array(jsonb_build_object(
                        'attempt', attempt, 'at', \(now)::bigint, 'worker', COALESCE(attempted_by, '?'),
                        'message', 'lease expired: worker ' || COALESCE(attempted_by, '?') || ' stopped answering')))::text
                FROM lost WHERE jobs.id = lost.id RETURNING jobs.id
                """, logger: logger)
            var n = 0
            for try await _ in rows.decode(Int64.self) { n += 1 }
            return n
        }
    }

    public func cancel(id: Int64, now: Int64) async throws(StoreError) -> Job? {
        try await cancel(now: now, where: "id", id)
    }

    public func cancel(uniqueKey: String, now: Int64) async throws(StoreError) -> Job? {
        try await cancel(now: now, where: "unique_key", uniqueKey)
    }

    private func cancel(now: Int64, where column: String, _ key: some PostgresEncodable & Sendable) async throws(StoreError) -> Job? {
        try await run("cancel") { [self] in
            try await client.query("""
                UPDATE jobs SET state = 'cancelled', finalized_at = \(now), lease_until = NULL
                WHERE \(unescaped: column) = \(key) AND state NOT IN ('completed', 'cancelled', 'discarded')
                """, logger: logger)
            return try await firstJob("SELECT \(unescaped: JobSchema.columns) FROM jobs WHERE \(unescaped: column) = \(key)")
        }
    }

    public func retry(id: Int64, now: Int64) async throws(StoreError) -> Job? {
        try await run("retry") { [self] in
            try await client.query("""
                UPDATE jobs SET state = 'available', run_at = \(now), finalized_at = NULL, max_attempts = GREATEST(max_attempts, attempt + 1)
                WHERE id = \(id) AND state != 'running'
                """, logger: logger)
            return try await firstJob("SELECT \(unescaped: JobSchema.columns) FROM jobs WHERE id = \(id)")
        }
    }

    public func job(id: Int64) async throws(StoreError) -> Job? {
        try await run("job") { [self] in try await firstJob("SELECT \(unescaped: JobSchema.columns) FROM jobs WHERE id = \(id)") }
    }

    private func firstJob(_ query: PostgresQuery) async throws -> Job? {
        for try await row in try await client.query(query, logger: logger) { return try Self.job(row) }
        return nil
    }

    public func jobs(state: JobState?, kind: JobKind?, limit: Int) async throws(StoreError) -> [Job] {
        let (s, k) = (state?.rawValue, kind?.rawValue)
        return try await run("jobs") { [self] in
            let rows = try await client.query("""
                SELECT \(unescaped: JobSchema.columns) FROM jobs
                WHERE (\(s)::text IS NULL OR state = \(s)::text) AND (\(k)::text IS NULL OR kind = \(k)::text) ORDER BY id DESC LIMIT \(limit)
                """, logger: logger)
            var out: [Job] = []
            for try await row in rows { out.append(try Self.job(row)) }
            return out
        }
    }

    public func jobCounts() async throws(StoreError) -> [JobKind: [JobState: Int]] {
        let rows: [(String, String, Int)] = try await run("job counts") { [self] in
            var out: [(String, String, Int)] = []
            for try await row in try await client.query("SELECT kind, state, COUNT(*)::bigint FROM jobs GROUP BY kind, state", logger: logger)
                .decode((String, String, Int).self) { out.append(row) }
            return out
        }
        return try JobSchema.counts(rows)
    }

    private static func errorJSON(_ e: JobAttemptError) throws(StoreError) -> String {
        do { return String(decoding: try JSONEncoder().encode(e), as: UTF8.self) } catch {
            throw StoreError(.invalidArgument, "job error does not encode: \(error)")
        }
    }

    private static func job(_ row: PostgresRow) throws -> Job {
        let r = row.makeRandomAccess()
        let stateName = try r["state"].decode(String.self)
        guard let state = JobState(rawValue: stateName) else { throw StoreError(.corrupt, "unknown job state \(stateName)") }
        return Job(
            id: try r["id"].decode(Int64.self), kind: JobKind(rawValue: try r["kind"].decode(String.self)),
            workspace: try r["workspace"].decode(String.self), documentID: try r["doc_id"].decode(String.self),
            documentVersion: Int(try r["doc_version"].decode(Int64.self)), uniqueKey: try r["unique_key"].decode(String?.self),
            arguments: try r["args"].decode(String.self), state: state, attempt: Int(try r["attempt"].decode(Int32.self)),
            maxAttempts: Int(try r["max_attempts"].decode(Int32.self)), priority: Int(try r["priority"].decode(Int32.self)),
            runAt: try r["run_at"].decode(Int64.self), leaseUntil: try r["lease_until"].decode(Int64?.self),
            attemptedBy: try r["attempted_by"].decode(String?.self), errors: try JobErrors.decode(try r["errors"].decode(String.self)),
            result: try r["result"].decode(String?.self), createdAt: try r["created_at"].decode(Int64.self),
            finalizedAt: try r["finalized_at"].decode(Int64?.self))
    }
}
