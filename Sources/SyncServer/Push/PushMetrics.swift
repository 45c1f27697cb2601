import Prometheus

/// Push deliveries by provider and outcome (`delivered`, `gone`, `retry`, `failed`, `throttled`, `unconfigured`).
final class PushMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func outcome(_ provider: String, _ outcome: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "nest", metricName: "push_deliveries", unitName: "total",
                                                              helpText: "Push deliveries by provider and outcome"),
                             labels: [("provider", provider), ("outcome", outcome)]).increment()
    }
}
