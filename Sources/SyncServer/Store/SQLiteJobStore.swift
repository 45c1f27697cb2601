import Foundation
import GRDB

/// The job queue on the embedded store. SQLite has one writer, so a claim
/// (select the due rows, mark them running) in one write transaction is
/// already exclusive: what `FOR UPDATE SKIP LOCKED` gives on PostgreSQL.
extension SQLiteDocumentStore: JobStore {
    public func enqueue(_ job: NewJob, now: Int64) async throws(StoreError) -> EnqueueResult {
        guard !job.documentID.isEmpty, job.maxAttempts >= 1 else { throw StoreError(.invalidArgument, "a job needs a document and at least one attempt") }
        let runAt = job.runAt ?? now
        let state: JobState = runAt > now ? .scheduled : .available
        return try await write("enqueue") { db in
            if let key = job.uniqueKey, let id = try Int64.fetchOne(db, sql: "SELECT id FROM jobs WHERE unique_key = ?", arguments: [key]) {
                return .duplicate(id)
            }
            try db.execute(sql: """
                INSERT INTO jobs (kind, workspace, doc_id, doc_version, unique_key, args, state, max_attempts, priority, run_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job.kind.rawValue, job.workspace, job.documentID, job.documentVersion, job.uniqueKey, job.arguments,
                                 state.rawValue, job.maxAttempts, job.priority, runAt, now])
            return .inserted(db.lastInsertedRowID)
        }
    }

    public func claim(kinds: [JobKind], worker: String, limit: Int, leaseMillis: Int64, now: Int64) async throws(StoreError) -> [Job] {
        guard limit > 0 else { return [] }
        return try await write("claim") { db -> [Job] in
            var sql = "SELECT id FROM jobs WHERE state IN \(JobSchema.due) AND run_at <= ?"
            var args: [any DatabaseValueConvertible] = [now]
            if !kinds.isEmpty {
                sql += " AND kind IN (\(databaseQuestionMarks(count: kinds.count)))"
                args += kinds.map(\.rawValue)
            }
            sql += " ORDER BY priority, run_at, id LIMIT ?"
            args.append(limit)
            let ids = try Int64.fetchAll(db, sql: sql, arguments: StatementArguments(args))
            guard !ids.isEmpty else { return [] }
            let list = databaseQuestionMarks(count: ids.count)
            try db.execute(
                sql: "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_by = ?, lease_until = ? WHERE id IN (\(list))",
                arguments: StatementArguments([worker, now + leaseMillis] as [any DatabaseValueConvertible] + ids.map { $0 as any DatabaseValueConvertible }))
            return try Row.fetchAll(db, sql: "SELECT \(JobSchema.columns) FROM jobs WHERE id IN (\(list)) ORDER BY priority, run_at, id",
                                    arguments: StatementArguments(ids)).map(Self.job)
        }
    }

    public func renewLease(_ claim: JobClaim, until: Int64) async throws(StoreError) -> Bool {
        try await write("renew lease") { db in
            try db.execute(sql: "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND attempt = ? AND attempted_by = ?",
                           arguments: [until, claim.id, claim.attempt, claim.worker])
            return db.changesCount > 0
        }
    }

    public func complete(_ claim: JobClaim, result: String, now: Int64) async throws(StoreError) -> Bool {
        try await write("complete") { db in
            try db.execute(sql: """
                UPDATE jobs SET state = 'completed', result = ?, finalized_at = ?, lease_until = NULL
                WHERE id = ? AND state = 'running' AND attempt = ? AND attempted_by = ?
                """, arguments: [result, now, claim.id, claim.attempt, claim.worker])
            return db.changesCount > 0
        }
    }

    public func completeAll(_ completions: [JobCompletion], now: Int64) async throws(StoreError) -> [Bool] {
        try await write("complete") { db in
            // Prepared once per connection and reused: a group holds many completions, and compiling the same
            // statement for each would cost more than running it.
            let update = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 'completed', result = ?, finalized_at = ?, lease_until = NULL
                WHERE id = ? AND state = 'running' AND attempt = ? AND attempted_by = ?
                """)
            return try completions.map { c in
                try update.execute(arguments: [c.result, now, c.claim.id, c.claim.attempt, c.claim.worker])
                return db.changesCount > 0
            }
        }
    }

    public func fail(_ claim: JobClaim, error: String, retryAt: Int64?, now: Int64) async throws(StoreError) -> JobState? {
        try await write("fail") { db -> JobState? in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT errors, max_attempts FROM jobs WHERE id = ? AND state = 'running' AND attempt = ? AND attempted_by = ?",
                arguments: [claim.id, claim.attempt, claim.worker])
            else { return nil }
            let errors = try JobErrors.appending(
                JobAttemptError(attempt: claim.attempt, at: now, worker: claim.worker, message: error), to: row["errors"])
            let retry = retryAt.flatMap { claim.attempt < (row["max_attempts"] as Int) ? $0 : nil }
            let state: JobState = retry == nil ? .discarded : .retryable
            try db.execute(sql: """
                UPDATE jobs SET state = ?, errors = ?, run_at = COALESCE(?, run_at), finalized_at = ?, lease_until = NULL WHERE id = ?
                """, arguments: [state.rawValue, errors, retry, retry == nil ? now : nil, claim.id])
            return state
        }
    }

    public func rescueExpired(now: Int64) async throws(StoreError) -> Int {
        try await write("rescue") { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, attempt, max_attempts, attempted_by, errors FROM jobs WHERE state = 'running' AND lease_until < ?", arguments: [now])
            for row in rows {
                let attempt: Int = row["attempt"]
                let worker: String = row["attempted_by"] ?? "?"
                let errors = try JobErrors.appending(
                    JobAttemptError(attempt: attempt, at: now, worker: worker, message: "lease expired: worker \(worker) stopped answering"), to: row["errors"])
                let state: JobState = attempt < (row["max_attempts"] as Int) ? .retryable : .discarded
                try db.execute(sql: """
                    UPDATE jobs SET state = ?, errors = ?, run_at = ?, lease_until = NULL, finalized_at = ? WHERE id = ?
                    """, arguments: [state.rawValue, errors, now, state == .discarded ? now : nil, row["id"] as Int64])
            }
            return rows.count
        }
    }

    public func cancel(id: Int64, now: Int64) async throws(StoreError) -> Job? {
        try await cancel(where: "id = ?", id, now: now)
    }

    public func cancel(uniqueKey: String, now: Int64) async throws(StoreError) -> Job? {
        try await cancel(where: "unique_key = ?", uniqueKey, now: now)
    }

    private func cancel(where condition: String, _ key: some DatabaseValueConvertible & Sendable, now: Int64) async throws(StoreError) -> Job? {
        try await write("cancel") { db -> Job? in
            try db.execute(sql: """
                UPDATE jobs SET state = 'cancelled', finalized_at = ?, lease_until = NULL
                WHERE \(condition) AND state NOT IN ('completed', 'cancelled', 'discarded')
                """, arguments: [now, key])
            return try Row.fetchOne(db, sql: "SELECT \(JobSchema.columns) FROM jobs WHERE \(condition)", arguments: [key]).map(Self.job)
        }
    }

    public func retry(id: Int64, now: Int64) async throws(StoreError) -> Job? {
        try await write("retry") { db -> Job? in
            try db.execute(sql: """
                UPDATE jobs SET state = 'available', run_at = ?, finalized_at = NULL, max_attempts = MAX(max_attempts, attempt + 1)
                WHERE id = ? AND state != 'running'
                """, arguments: [now, id])
            return try Row.fetchOne(db, sql: "SELECT \(JobSchema.columns) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func job(id: Int64) async throws(StoreError) -> Job? {
        try await read("job") { db in try Row.fetchOne(db, sql: "SELECT \(JobSchema.columns) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job) }
    }

    public func jobs(state: JobState?, kind: JobKind?, limit: Int) async throws(StoreError) -> [Job] {
        try await read("jobs") { db in
            try Row.fetchAll(db, sql: """
                SELECT \(JobSchema.columns) FROM jobs WHERE (? IS NULL OR state = ?) AND (? IS NULL OR kind = ?) ORDER BY id DESC LIMIT ?
                """, arguments: [state?.rawValue, state?.rawValue, kind?.rawValue, kind?.rawValue, limit]).map(Self.job)
        }
    }

    public func jobCounts() async throws(StoreError) -> [JobKind: [JobState: Int]] {
        let rows = try await read("job counts") { db in
            try Row.fetchAll(db, sql: "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state")
                .map { ($0["kind"] as String, $0["state"] as String, $0["n"] as Int) }
        }
        return try JobSchema.counts(rows)
    }

    private static func job(_ row: Row) throws(StoreError) -> Job {
        let stateName: String = row["state"]
        guard let state = JobState(rawValue: stateName) else { throw StoreError(.corrupt, "unknown job state \(stateName)") }
        return Job(
            id: row["id"], kind: JobKind(rawValue: row["kind"]), workspace: row["workspace"], documentID: row["doc_id"],
            documentVersion: row["doc_version"], uniqueKey: row["unique_key"], arguments: row["args"], state: state,
            attempt: row["attempt"], maxAttempts: row["max_attempts"], priority: row["priority"], runAt: row["run_at"],
            leaseUntil: row["lease_until"], attemptedBy: row["attempted_by"], errors: try JobErrors.decode(row["errors"]),
            result: row["result"], createdAt: row["created_at"], finalizedAt: row["finalized_at"])
    }
}
