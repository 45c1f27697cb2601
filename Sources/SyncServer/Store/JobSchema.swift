import Foundation

/// The jobs table, the same columns on both stores. Times are milliseconds
/// since 1970; `errors` is a JSON array of ``JobAttemptError``.
enum JobSchema {
    static let columns = """
        id, kind, workspace, doc_id, doc_version, unique_key, args, state, attempt, max_attempts, priority, run_at, \
        lease_until, attempted_by, errors, result, created_at, finalized_at
        """

    /// Unique keys are unique over every state: one AI job per request
    /// however often the request is synced, even after the job finished.
    static let sqlite = """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL, workspace TEXT NOT NULL, doc_id TEXT NOT NULL, doc_version INTEGER NOT NULL,
            unique_key TEXT, args TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL, run_at INTEGER NOT NULL,
            lease_until INTEGER, attempted_by TEXT, errors TEXT NOT NULL DEFAULT '[]', result TEXT,
            created_at INTEGER NOT NULL, finalized_at INTEGER
        );
        CREATE UNIQUE INDEX jobs_unique_key ON jobs(unique_key) WHERE unique_key IS NOT NULL;
        CREATE INDEX jobs_due ON jobs(priority, run_at, id) WHERE state IN ('available', 'scheduled', 'retryable');
        CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
        CREATE INDEX jobs_kind_state ON jobs(kind, state);

        """

    static let postgres = [
        """
        CREATE TABLE IF NOT EXISTS jobs (
            id BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL, workspace TEXT NOT NULL, doc_id TEXT NOT NULL, doc_version BIGINT NOT NULL,
            unique_key TEXT, args TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL, run_at BIGINT NOT NULL,
            lease_until BIGINT, attempted_by TEXT, errors TEXT NOT NULL DEFAULT '[]', result TEXT,
            created_at BIGINT NOT NULL, finalized_at BIGINT)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS jobs_unique_key ON jobs(unique_key) WHERE unique_key IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS jobs_due ON jobs(priority, run_at, id) WHERE state IN ('available', 'scheduled', 'retryable')",
        "CREATE INDEX IF NOT EXISTS jobs_running ON jobs(lease_until) WHERE state = 'running'",
        "CREATE INDEX IF NOT EXISTS jobs_kind_state ON jobs(kind, state)",
    ]

    /// The states a claim takes jobs from.
    static let due = "('available', 'scheduled', 'retryable')"
}

extension JobSchema {
    /// Job counts from (kind, state, count) rows.
    static func counts(_ rows: [(String, String, Int)]) throws(StoreError) -> [JobKind: [JobState: Int]] {
        var out: [JobKind: [JobState: Int]] = [:]
        for (kind, state, n) in rows {
            guard let s = JobState(rawValue: state) else { throw StoreError(.corrupt, "unknown job state \(state)") }
            out[JobKind(rawValue: kind), default: [:]][s] = n
        }
        return out
    }
}

/// Errors kept on a job, as stored.
enum JobErrors {
    static func decode(_ text: String) throws(StoreError) -> [JobAttemptError] {
        do { return try JSONDecoder().decode([JobAttemptError].self, from: Data(text.utf8)) } catch {
            throw StoreError(.corrupt, "job errors are not JSON: \(error)")
        }
    }

    static func appending(_ e: JobAttemptError, to text: String) throws(StoreError) -> String {
        var all = try decode(text)
        all.append(e)
        // Encoding an array of plain values cannot fail.
        return (try? String(decoding: JSONEncoder().encode(all), as: UTF8.self)) ?? text
    }
}
