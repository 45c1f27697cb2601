public import Prometheus

/// Push deliveries by provider and outcome (`delivered`, `gone`, `retry`, `failed`, `throttled`, `unconfigured`).
public final class PushMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Counters kept in a registry of their own (nothing exports them).
    public convenience init() { self.init(registry: PrometheusCollectorRegistry()) }

    func outcome(_ provider: String, _ outcome: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "nest", metricName: "push_deliveries", unitName: "total",
                                                              helpText: "Push deliveries by provider and outcome"),
                             labels: [("provider", provider), ("outcome", outcome)]).increment()
    }
}
