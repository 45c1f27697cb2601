/// Time and distribution helpers shared by the benchmarks.
enum Stats {
    /// A duration in milliseconds.
    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Milliseconds since `start`.
    static func ms(since start: ContinuousClock.Instant) -> Double { ms(ContinuousClock.now - start) }

    /// The nearest-rank percentile (`p` in 0...1) of `xs`; 0 when empty.
    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s[max(0, min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1))]
    }
}
