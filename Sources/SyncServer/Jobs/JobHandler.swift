import Foundation

/// Runs the jobs of one kind.
///
/// A handler's side effects must be safe to repeat or be checked before they
/// are repeated: a job whose worker died is run again after its lease, and
/// the first run may have got as far as its effect.
public protocol JobHandler: Sendable {
    /// Does the job; returns its result (kept on the job, JSON or text).
    /// - Throws: ``JobFailure``: retried per the worker's policy when
    ///   retryable and attempts are left, else the job is discarded.
    func run(_ job: Job) async throws(JobFailure) -> String

    /// Called once when the job is discarded (no attempt left, or a failure
    /// no retry mends), with the last error: the place to tell the user.
    func discarded(_ job: Job, error: String) async
}

extension JobHandler {
    public func discarded(_ job: Job, error: String) async {}
}

/// Why an attempt failed, and whether another attempt may succeed.
public struct JobFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    /// The earliest time to try again that the other side named (`Retry-After`).
    public var retryAfter: Duration?

    /// A failure another attempt may mend (timeouts, 429, 5xx).
    public static func retry(_ message: String, after: Duration? = nil) -> JobFailure {
        JobFailure(message: message, retryable: true, retryAfter: after)
    }

    /// A failure no retry mends (bad credentials, a refused request).
    public static func permanent(_ message: String) -> JobFailure {
        JobFailure(message: message, retryable: false, retryAfter: nil)
    }

    public var description: String { message }
}

/// The handler of ``JobKind/noop``: completes at once, or after the
/// `sleepMillis` its arguments name (for measuring the queue, and for
/// jobs that are still running when a node dies).
public struct NoopJobHandler: JobHandler {
    public init() {}

    struct Arguments: Decodable {
        var sleepMillis: Int64?
    }

    public func run(_ job: Job) async throws(JobFailure) -> String {
        if let ms = (try? JSONDecoder().decode(Arguments.self, from: Data(job.arguments.utf8)))?.sleepMillis, ms > 0 {
            do { try await Task.sleep(for: .milliseconds(ms)) } catch { throw .retry("stopped while sleeping") }
        }
        return "{}"
    }
}
