/// Counts events in one-second windows: the per-connection update limit.
struct RateWindow {
    let limit: Int
    private var start = ContinuousClock.now
    private var count = 0

    init(limit: Int) { self.limit = limit }

    /// Records one event; false when it is over the limit for this second.
    mutating func admit() -> Bool {
        let now = ContinuousClock.now
        if now - start > .seconds(1) {
            start = now
            count = 0
        }
        count += 1
        return count <= limit
    }
}
