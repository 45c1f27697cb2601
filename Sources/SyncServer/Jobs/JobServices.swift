import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import NIOCore
import NIOSSL
import Synchronization

/// The job engine of one node, wired: the projector that follows commits,
/// the triggers that turn projected rows into jobs, the server's document
/// writer, and the worker with a handler per kind this node can run.
/// Only on a store that keeps jobs and projections (both built-in stores do).
final class JobServices: Sendable {
    let projector: Projector?
    /// Turns commits into notification jobs; nil without a store that keeps devices.
    let relay: PushRelay?
    /// Devices whose connection is open here (notifications go to them in-band).
    let liveDevices = LiveDevices()
    private let pushHTTP: HTTPClient?
    private let vapid: VAPID?
    private let apnsToken: APNsProviderToken?
    private let fcmAccount: FCMServiceAccount?
    private let store: (any DocumentStore & JobStore & ProjectionStore)?
    private let config: ServerConfiguration
    private let metrics: ServerMetrics
    private let logger: Logger
    private let wakeup = Wakeup()
    private let http: HTTPClient?
    private let worker = Mutex<JobWorker?>(nil)

    init(config: ServerConfiguration, store: any DocumentStore, metrics: ServerMetrics, logger: Logger) throws {
        self.config = config
        self.metrics = metrics
        self.logger = logger
        vapid = try config.push.vapidKeyFile.map { try VAPID.load(keyFile: $0, subject: config.push.vapidSubject) }
        if let file = config.push.apnsKeyFile {
            guard let kid = config.push.apnsKeyID, let team = config.push.apnsTeamID else {
                throw ServerStartError(description: "APNs needs NEST_APNS_KEY_ID and NEST_APNS_TEAM_ID with NEST_APNS_KEY_FILE")
            }
            apnsToken = try APNsProviderToken.load(keyFile: file, keyID: kid, teamID: team)
        } else {
            apnsToken = nil
        }
        fcmAccount = try config.push.fcmServiceAccountFile.map(FCMServiceAccount.load(file:))
        guard let full = store as? any DocumentStore & JobStore & ProjectionStore else {
            self.store = nil
            projector = nil
            http = nil
            relay = nil
            pushHTTP = nil
            return
        }
        self.store = full
        let now: @Sendable () -> Int64 = { epochMillis(Date()) }
        http = config.ai.map { HTTPClient(eventLoopGroupProvider: .singleton, configuration: ChatCompletionsClient.httpConfiguration(for: $0)) }
        if let push = store as? any PushStore & JobStore {
            relay = PushRelay(store: push, wakeup: wakeup, editsWindow: .seconds(config.push.editsWindowSeconds),
                              backgroundInterval: .seconds(config.push.backgroundIntervalSeconds), logger: logger)
            var hc = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(Int64(config.push.requestTimeoutSeconds))))
            if let ca = config.push.caFile {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.additionalTrustRoots = [.file(ca)]
                hc.tlsConfiguration = tls
            }
            hc.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
            pushHTTP = HTTPClient(eventLoopGroupProvider: .singleton, configuration: hc)
        } else {
            relay = nil
            pushHTTP = nil
        }
        projector = Projector(store: full, triggers: ProjectionTriggers(jobs: full, wakeup: wakeup, logger: logger, offPeak: config.aiOffPeak, now: now,
                                                                        relay: relay), logger: logger)
    }

    /// Makes the worker, once the rooms (which the server's edits go through) exist.
    func start(registry: RoomRegistry) {
        guard let store else { return }
        let writer = ServerDocumentWriter(registry: registry)
        var handlers: [JobKind: any JobHandler] = [.noop: NoopJobHandler()]
        if let ai = config.ai, let http {
            handlers[.aiGenerate] = AIJobHandler(writer: writer, client: ChatCompletionsClient(configuration: ai, http: http),
                                                 usage: store as? any AIUsageStore, monthlyTokenBudget: config.aiMonthlyTokenBudget, logger: logger,
                                                 notify: { [relay] n, key in await relay?.notifyLogging(n, uniqueKey: key) })
        }
        if let push = store as? any PushStore & JobStore & ProjectionStore & DocumentStore, let relay, let pushHTTP {
            let now: @Sendable () -> Date = { Date() }
            let timeout = TimeAmount.seconds(Int64(config.push.requestTimeoutSeconds))
            var providers: [String: any PushProvider] = ["ntfy": NtfyProvider(http: pushHTTP, timeout: timeout)]
            if let vapid { providers["webpush"] = WebPushProvider(http: pushHTTP, vapid: vapid, timeout: timeout) }
            if let apnsToken { providers["apns"] = APNsProvider(http: pushHTTP, token: apnsToken, baseURL: config.push.apnsBaseURL, timeout: timeout) }
            if let fcmAccount { providers["fcm"] = FCMProvider(http: pushHTTP, account: fcmAccount, baseURL: config.push.fcmBaseURL, timeout: timeout) }
            handlers[.pushNotify] = PushNotifyHandler(store: push, live: liveDevices, wakeup: wakeup, now: now)
            handlers[.pushEdits] = PushEditsHandler(store: push, relay: relay)
            handlers[.pushDeliver] = PushDeliverHandler(store: push, providers: providers, metrics: PushMetrics(registry: metrics.registry),
                                                        backgroundInterval: PushRelay.millis(.seconds(config.push.backgroundIntervalSeconds)),
                                                        logger: logger, now: now)
        }
        var wc = JobWorker.Configuration(workerID: "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UInt32.random(in: 0...UInt32.max))")
        wc.concurrency = config.jobConcurrency
        wc.lease = .seconds(config.jobLeaseSeconds)
        logger.info("job worker", metadata: ["worker": "\(wc.workerID)", "kinds": "\(handlers.keys.map(\.rawValue).sorted())",
                                             "server_client_id": "\(writer.clientID)"])
        worker.withLock { $0 = JobWorker(store: store, handlers: handlers, configuration: wc, wakeup: wakeup,
                                         metrics: JobMetrics(registry: metrics.registry), logger: logger) }
    }

    var services: [any Service] {
        var out: [any Service] = [projector as (any Service)?, relay, worker.withLock { $0 }].compactMap { $0 }
        if let pg = store as? PostgresDocumentStore { out.append(PostgresJobListener(store: pg, wakeup: wakeup, logger: logger)) }
        return out
    }

    /// Closes the HTTP clients; each is closed whatever the other does.
    func shutdown() async {
        try? await http?.shutdown()
        try? await pushHTTP?.shutdown()
    }
}
