public import Prometheus

/// The job engine's metrics, in the server's registry: jobs finished by kind
/// and outcome, the wait from due to start by kind, the queue by kind and
/// state (refreshed by the worker).
public final class JobMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private static let buckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                              .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(30)]

    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    private func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "nest", metricName: metric, unitName: unit, helpText: help)
    }

    /// An attempt ended: `completed`, `retryable`, `discarded` or `refused` (the job had stopped being this worker's).
    func finished(_ kind: JobKind, outcome: String) {
        registry.makeCounter(descriptor: name("jobs_finished", "total", "Job attempts by kind and outcome"),
                             labels: [("kind", kind.rawValue), ("outcome", outcome)]).increment()
    }

    /// From the time a job was due to the start of its attempt.
    func started(_ kind: JobKind, waited: Duration) {
        registry.makeDurationHistogram(descriptor: name("job_start_latency", "seconds", "From a job's run-at time to its start, by kind"),
                                       labels: [("kind", kind.rawValue)], buckets: Self.buckets).record(max(waited, .zero))
    }

    /// From the start of an attempt to its end.
    func ran(_ kind: JobKind, for duration: Duration) {
        registry.makeDurationHistogram(descriptor: name("job_run", "seconds", "Duration of job attempts, by kind"),
                                       labels: [("kind", kind.rawValue)], buckets: Self.buckets).record(duration)
    }

    /// The queue as the store counts it.
    func queue(_ counts: [JobKind: [JobState: Int]]) {
        for (kind, states) in counts {
            for state in JobState.allCases {
                registry.makeGauge(descriptor: name("jobs", "", "Jobs in the queue by kind and state"),
                                   labels: [("kind", kind.rawValue), ("state", state.rawValue)]).set(Double(states[state] ?? 0))
            }
        }
    }
}
