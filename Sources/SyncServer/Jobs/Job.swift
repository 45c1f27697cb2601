public import Foundation

/// What a job does; a worker runs the kinds it has a handler for.
public struct JobKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// AI generation for one request of a draft (arguments: ``AIJobArguments``).
    public static let aiGenerate = JobKind(rawValue: "ai.generate")
    /// Does nothing and completes: for measuring the queue itself.
    public static let noop = JobKind(rawValue: "noop")
    public var description: String { rawValue }
}

/// Where a job is in its life (the states River, Oban and pg-boss share).
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Ready to run now.
    case available
    /// Waiting for its run-at time (first run).
    case scheduled
    /// Claimed by a worker, whose lease keeps it.
    case running
    /// Failed an attempt; runs again at its run-at time.
    case retryable
    /// Done; `result` holds what it produced.
    case completed
    /// Stopped by a person or by what it was for going away.
    case cancelled
    /// Failed every attempt (or failed in a way no retry mends); `errors` holds why.
    case discarded

    /// Whether the job will never run again unless retried by hand.
    public var isFinal: Bool { self == .completed || self == .cancelled || self == .discarded }
}

/// One failed attempt, kept on the job.
public struct JobAttemptError: Sendable, Codable, Equatable {
    public var attempt: Int
    /// When the attempt failed, in milliseconds since 1970.
    public var at: Int64
    public var worker: String
    public var message: String
    public init(attempt: Int, at: Int64, worker: String, message: String) {
        self.attempt = attempt
        self.at = at
        self.worker = worker
        self.message = message
    }
}

/// A job to insert.
public struct NewJob: Sendable {
    public var kind: JobKind
    public var workspace: String
    /// The document the job acts on.
    public var documentID: String
    /// The document's server sequence the job was created from.
    public var documentVersion: Int
    /// At most one job with this key ever exists (a real unique index).
    public var uniqueKey: String?
    /// The handler's arguments, JSON.
    public var arguments: String
    /// Attempts before the job is discarded. Default 3.
    public var maxAttempts: Int
    /// Lower runs first. Default 1.
    public var priority: Int
    /// Not before this time (milliseconds since 1970); nil: at once.
    public var runAt: Int64?

    public init(kind: JobKind, workspace: String, documentID: String, documentVersion: Int, uniqueKey: String? = nil,
                arguments: String = "{}", maxAttempts: Int = 3, priority: Int = 1, runAt: Int64? = nil) {
        self.kind = kind
        self.workspace = workspace
        self.documentID = documentID
        self.documentVersion = documentVersion
        self.uniqueKey = uniqueKey
        self.arguments = arguments
        self.maxAttempts = maxAttempts
        self.priority = priority
        self.runAt = runAt
    }
}

/// A job as stored.
public struct Job: Sendable, Codable, Equatable {
    public var id: Int64
    public var kind: JobKind
    public var workspace: String
    public var documentID: String
    public var documentVersion: Int
    public var uniqueKey: String?
    public var arguments: String
    public var state: JobState
    /// Attempts started so far (the running one included).
    public var attempt: Int
    public var maxAttempts: Int
    public var priority: Int
    /// Milliseconds since 1970 of the next (or last) run.
    public var runAt: Int64
    /// While running: the time after which the job is rescued unless its worker renews the lease.
    public var leaseUntil: Int64?
    /// The worker of the latest attempt.
    public var attemptedBy: String?
    public var errors: [JobAttemptError]
    public var result: String?
    public var createdAt: Int64
    public var finalizedAt: Int64?
}

/// What inserting a job did.
public enum EnqueueResult: Sendable, Equatable {
    /// A new job with this id.
    case inserted(Int64)
    /// A job with the same unique key exists already (its id).
    case duplicate(Int64)

    public var id: Int64 {
        switch self {
        case .inserted(let id), .duplicate(let id): id
        }
    }
}

/// Milliseconds since 1970, as every job time is stored.
public func epochMillis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
