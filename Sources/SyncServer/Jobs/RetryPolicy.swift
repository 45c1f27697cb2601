/// When a failed attempt runs again: exponential backoff with equal jitter
/// (a uniformly random delay between half of `base · 2^(attempt-1)`, capped,
/// and all of it), so that jobs failing together do not retry together;
/// never sooner than the `Retry-After` the other side named.
///
/// The lower half is what makes `maxAttempts` a promise: a job's attempts
/// always span at least `base · (2^(n-1) - 1) / 2` over n attempts (with the
/// defaults, eight attempts outlast an outage of at least 127 s), where a
/// full jitter could spend them all within seconds.
public struct RetryPolicy: Sendable {
    /// The first attempt's ceiling. Default 2 s.
    public var base: Duration = .seconds(2)
    /// The longest delay. Default 10 minutes.
    public var cap: Duration = .seconds(600)

    public init(base: Duration = .seconds(2), cap: Duration = .seconds(600)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before the attempt after `attempt` (1-based) failed.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration?, using random: inout some RandomNumberGenerator) -> Duration {
        let ceilingMillis = min(Double(cap.milliseconds), Double(base.milliseconds) * Double(1 << min(max(attempt - 1, 0), 30)))
        let jittered = Duration.milliseconds(Int64(Double.random(in: (ceilingMillis / 2)...ceilingMillis, using: &random)))
        guard let retryAfter else { return jittered }
        return max(jittered, retryAfter)
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
