public import Prometheus
import SyncProtocol

/// The server's Prometheus metrics, served at `/metrics`. One registry per
/// server (not the process-global metrics system), so several servers in one
/// process — as in tests and `nest demo` — keep separate counts.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let nestConnections: Gauge
    let yjsConnections: Gauge
    let openDocuments: Gauge
    let residentBytes: Gauge
    let updatesCommitted: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let ackLatency: DurationHistogram
    let storeLatency: DurationHistogram
    let roomsUnloaded: Counter

    public init() {
        let connections = "nest_connections"
        nestConnections = registry.makeGauge(name: connections, labels: [("endpoint", "sync")], help: "Open WebSocket connections")
        yjsConnections = registry.makeGauge(name: connections, labels: [("endpoint", "yjs")], help: "Open WebSocket connections")
        openDocuments = registry.makeGauge(name: "nest_open_documents", help: "Documents loaded in memory")
        residentBytes = registry.makeGauge(name: "nest_resident_bytes", help: "Estimated bytes of the loaded documents (their stored updates)")
        updatesCommitted = registry.makeCounter(name: "nest_updates_total", help: "Updates committed to the store")
        bytesIn = registry.makeCounter(name: "nest_bytes_in_total", help: "WebSocket payload bytes received")
        bytesOut = registry.makeCounter(name: "nest_bytes_out_total", help: "WebSocket payload bytes sent")
        let buckets: [Duration] = [.microseconds(250), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                   .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5)]
        ackLatency = registry.makeDurationHistogram(name: "nest_ack_latency_seconds", buckets: buckets, help: "From receiving an update to sending its ack")
        storeLatency = registry.makeDurationHistogram(name: "nest_store_latency_seconds", buckets: buckets, help: "Store operations (load, append, compact)")
        roomsUnloaded = registry.makeCounter(name: "nest_rooms_unloaded_total", help: "Documents unloaded (idle or over the memory budget)")
    }

    /// The metrics in Prometheus text exposition format.
    public func exposition() -> String { registry.emitToString() }

    /// Counts an error or refusal sent to a client, by protocol code.
    func sent(_ message: NestMessage) {
        switch message {
        case .error(let code, _, _), .refused(_, _, let code, _):
            registry.makeCounter(name: "nest_errors_total", labels: [("code", code.name)], help: "Errors and refusals sent, by code").increment()
        default:
            break
        }
    }

    /// Records a store operation that started at `start`.
    func storeDone(since start: ContinuousClock.Instant) {
        storeLatency.record(ContinuousClock.now - start)
    }
}
