/// Reconnect delays: exponential with full jitter (so a fleet of clients
/// does not reconnect in step after a server restart), capped.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double
    public private(set) var attempt = 0

    public init(base: Double = 0.5, cap: Double = 30) {
        self.base = base
        self.cap = cap
    }

    /// The next delay in seconds. `atLeast` honours a server hint (e.g. a
    /// longer wait after being closed for flooding or turned away as busy);
    /// a hinted wait is jittered too, between the hint and twice it, or every
    /// client turned away at the same moment would come back at the same moment.
    public mutating func next(atLeast floor: Double = 0) -> Double {
        let ceiling = min(cap, base * Double(1 << min(attempt, 20)))
        attempt += 1
        let delay = Double.random(in: (ceiling / 2)...ceiling)
        guard floor > delay else { return delay }
        return Double.random(in: floor...(2 * floor))
    }

    /// Called after a successful session start.
    public mutating func reset() { attempt = 0 }
}
