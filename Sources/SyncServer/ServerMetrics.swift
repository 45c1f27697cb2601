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
    /// Admission control (``JoinGate``): joins being set up, waiting, and refused with 1013.
    let joinsRunning: Gauge
    let joinsWaiting: Gauge
    let joinsRefused: Counter
    /// Times a connection's socket stopped being read because its messages queued up.
    let readsPaused: Counter
    /// Errors and refusals sent, by protocol code (every code made up front, so scrapes show zeros).
    let errors: [Int: Counter]

    public init() {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "nest", metricName: metric, unitName: unit, helpText: help)
        }
        let connections = name("connections", "", "Open WebSocket connections")
        nestConnections = registry.makeGauge(descriptor: connections, labels: [("endpoint", "sync")])
        yjsConnections = registry.makeGauge(descriptor: connections, labels: [("endpoint", "yjs")])
        openDocuments = registry.makeGauge(descriptor: name("open_documents", "", "Documents loaded in memory"))
        residentBytes = registry.makeGauge(descriptor: name("resident", "bytes", "Bytes held for the loaded documents (their updates, range tables and any shared full state)"))
        updatesCommitted = registry.makeCounter(descriptor: name("updates", "total", "Updates committed to the store"))
        bytesIn = registry.makeCounter(descriptor: name("bytes_in", "total", "WebSocket payload bytes received"))
        bytesOut = registry.makeCounter(descriptor: name("bytes_out", "total", "WebSocket payload bytes sent"))
        let buckets: [Duration] = [.microseconds(250), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                   .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5)]
        ackLatency = registry.makeDurationHistogram(descriptor: name("ack_latency", "seconds", "From receiving an update to sending its ack"), buckets: buckets)
        storeLatency = registry.makeDurationHistogram(descriptor: name("store_latency", "seconds", "Store operations (load, append, compact)"), buckets: buckets)
        roomsUnloaded = registry.makeCounter(descriptor: name("rooms_unloaded", "total", "Documents unloaded (idle or over the memory budget)"))
        joinsRunning = registry.makeGauge(descriptor: name("joins_running", "", "Connections being set up (token, memberships, room load)"))
        joinsWaiting = registry.makeGauge(descriptor: name("joins_waiting", "", "Connections waiting for a set-up slot"))
        joinsRefused = registry.makeCounter(descriptor: name("joins_refused", "total", "Connections turned away with 1013 because the join queue was full"))
        readsPaused = registry.makeCounter(
            descriptor: name("reads_paused", "total", "Times a connection was not read until the server had handled its queued messages"))
        let errorsName = name("errors", "total", "Errors and refusals sent, by code")
        var byCode: [Int: Counter] = [:]
        for raw in 1...15 { byCode[raw] = registry.makeCounter(descriptor: errorsName, labels: [("code", ErrorCode(rawValue: raw).name)]) }
        errors = byCode
    }

    /// The metrics in Prometheus text exposition format.
    public func exposition() -> String { registry.emitToString() }

    /// Counts an error or refusal sent to a client, by protocol code.
    func sent(_ message: NestMessage) {
        switch message {
        case .error(let code, _, _), .refused(_, _, let code, _):
            errors[code.rawValue]?.increment()
        default:
            break
        }
    }

    /// Records a store operation that started at `start`.
    func storeDone(since start: ContinuousClock.Instant) {
        storeLatency.record(ContinuousClock.now - start)
    }
}
