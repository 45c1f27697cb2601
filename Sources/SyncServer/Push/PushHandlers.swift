public import Foundation
public import Logging
import Model
import SyncProtocol

/// What a `push.deliver` job sends where.
public struct PushDeliveryArguments: Codable, Sendable, Equatable {
    public var deviceID: String
    public var notification: PushNotification

    public init(deviceID: String, notification: PushNotification) {
        self.deviceID = deviceID
        self.notification = notification
    }
}

/// `push.notify`: one notification for one user, fanned out to the user's
/// active devices: in-band to a device whose connection is open on this node,
/// else one `push.deliver` job per device (unique per notification and device,
/// so a rerun after a crash queues nothing twice). Alerts in the user's quiet
/// hours wait for their end; silent pushes do not.
public struct PushNotifyHandler: JobHandler {
    let store: any PushStore & JobStore & DocumentStore
    let live: LiveDevices
    let wakeup: Wakeup
    let now: @Sendable () -> Date

    public init(store: any PushStore & JobStore & DocumentStore, live: LiveDevices, wakeup: Wakeup, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.live = live
        self.wakeup = wakeup
        self.now = now
    }

    public func run(_ job: Job) async throws(JobFailure) -> String {
        let n: PushNotification
        do { n = try PushJSON.decode(PushNotification.self, job.arguments, "a notification") } catch { throw .permanent("\(error)") }
        let prefs: PushPreferences, devices: [RegisteredDevice]
        do {
            // Only members hear of a workspace's documents (a comment can @mention anyone).
            if let ws = (try? DocumentName(parsing: n.documentID))?.workspace,
               !(try await store.memberships(userID: n.userID)).contains(where: { $0.workspaceID == ws }) {
                return #"{"skipped":"not a member of the document's workspace"}"#
            }
            prefs = try await store.pushPreferences(userID: n.userID)
            devices = try await store.devices(userID: n.userID, includeDropped: false)
        } catch {
            throw .retry("\(error)")
        }
        let t = now()
        guard prefs.events.contains(n.event) || n.event == .test else {
            try await log(n, deviceID: "", provider: "", outcome: "muted", detail: "the user turned \(n.event) pushes off", job: job, at: t)
            return #"{"muted":true}"#
        }
        let waitUntil = n.event.isSilent ? nil : prefs.quietHours?.end(after: t)
        var inBand = 0, queued = 0
        for device in devices {
            // ntfy shows every message: a silent push has nothing to wake there.
            if n.event.isSilent, case .ntfy = device.address { continue }
            // A connected device syncs already: it needs no silent push, and gets the others in-band.
            if n.event.isSilent, live.isLive(device.id) { continue }
            if live.deliver(n, to: device.id) {
                inBand += 1
                try await log(n, deviceID: device.id, provider: device.address.provider, outcome: "in-band", detail: "connected", job: job, at: t)
                continue
            }
            let args = PushDeliveryArguments(deviceID: device.id, notification: n)
            do {
                _ = try await store.enqueue(NewJob(kind: .pushDeliver, workspace: job.workspace, documentID: job.documentID, documentVersion: 0,
                                                   uniqueKey: "push:\(job.id):\(device.id)", arguments: PushJSON.encode(args), maxAttempts: 8,
                                                   priority: n.event.isSilent ? 3 : 0, runAt: waitUntil.map(epochMillis)), now: epochMillis(t))
            } catch {
                throw .retry("\(error)")
            }
            queued += 1
        }
        if queued > 0 { wakeup.signal() }
        return #"{"devices":\#(devices.count),"inBand":\#(inBand),"queued":\#(queued)\#(waitUntil.map { ",\"quietUntil\":\(epochMillis($0))" } ?? "")}"#
    }

    private func log(_ n: PushNotification, deviceID: String, provider: String, outcome: String, detail: String, job: Job, at: Date) async throws(JobFailure) {
        do {
            try await store.recordPushDelivery(PushDelivery(userID: n.userID, deviceID: deviceID, provider: provider, event: n.event, documentID: n.documentID,
                                                            outcome: outcome, detail: detail, jobID: job.id, at: epochMillis(at)))
        } catch {
            throw .retry("\(error)")
        }
    }
}

/// `push.edits`: a follower's window of collaborators' edits closed: one
/// alert naming the draft and the first editor, and a silent push so that the
/// user's devices sync.
public struct PushEditsHandler: JobHandler {
    let store: any PushStore & JobStore & ProjectionStore
    let relay: PushRelay

    public init(store: any PushStore & JobStore & ProjectionStore, relay: PushRelay) {
        self.store = store
        self.relay = relay
    }

    public func run(_ job: Job) async throws(JobFailure) -> String {
        let w: EditsWindow
        do { w = try PushJSON.decode(EditsWindow.self, job.arguments, "an edits window") } catch { throw .permanent("\(error)") }
        let title: String
        do {
            // Edits from here on open a new window.
            try await store.closePushWindow(key: w.key, opensAt: w.opensAt)
            title = try await store.projection(documentID: w.documentID)?.drafts.first?.title ?? ""
        } catch {
            throw .retry("\(error)")
        }
        let name = title.isEmpty ? w.documentID : "“\(title.prefix(60))”"
        do {
            try await relay.notify(PushNotification(event: .edits, userID: w.userID, documentID: w.documentID, title: "\(w.actor) edited \(name)",
                                                    body: "Open the draft to see the changes.", actor: w.actor),
                                   uniqueKey: "push.edits:\(job.id)")
            try await relay.notify(PushNotification(event: .background, userID: w.userID, documentID: w.documentID, title: "", body: "", actor: w.actor),
                                   uniqueKey: "push.background:\(job.id)")
        } catch {
            throw .retry("\(error)")
        }
        return "{}"
    }
}

/// `push.deliver`: one notification to one device through its provider.
/// A gone address drops the device; a retryable failure backs off (honouring
/// the provider's `Retry-After`); silent pushes are rate-limited per device.
public struct PushDeliverHandler: JobHandler {
    let store: any PushStore & JobStore
    let providers: [String: any PushProvider]
    let metrics: PushMetrics
    let backgroundInterval: Int64
    let logger: Logger
    let now: @Sendable () -> Date
    /// Outcomes of deliveries that finish together are logged together.
    private let outcomeLog: StoreBatcher<PushDelivery, Void>
    /// Devices of deliveries that start together are read together.
    private let deviceLookup: StoreBatcher<String, RegisteredDevice?>

    /// - Parameter backgroundInterval: milliseconds between silent pushes to one device.
    public init(store: any PushStore & JobStore, providers: [String: any PushProvider], metrics: PushMetrics, backgroundInterval: Int64,
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.providers = providers
        self.metrics = metrics
        self.backgroundInterval = backgroundInterval
        self.logger = logger
        self.now = now
        // Posted without waiting: a delivery's job slot is not held for the log's write. A log that cannot be
        // written is reported here; the delivery itself stands either way.
        outcomeLog = StoreBatcher { [store, logger] items throws(StoreError) in
            do { try await store.recordPushDeliveries(items) } catch {
                logger.warning("push outcomes not logged", metadata: ["count": "\(items.count)", "error": "\(error)"])
            }
            return items.map { _ in () }
        }
        deviceLookup = StoreBatcher { [store] ids throws(StoreError) in
            let found = try await store.devices(ids: Array(Set(ids)))
            return ids.map { found[$0] }
        }
    }

    public func run(_ job: Job) async throws(JobFailure) -> String {
        let args: PushDeliveryArguments
        do { args = try PushJSON.decode(PushDeliveryArguments.self, job.arguments, "a delivery") } catch { throw .permanent("\(error)") }
        let n = args.notification
        let device: RegisteredDevice?
        do { device = try await deviceLookup.submit(args.deviceID) } catch { throw .retry("\(error)") }
        guard let device, device.droppedAt == nil, device.userID == n.userID else {
            return #"{"skipped":"the device is no longer registered to the user"}"#
        }
        let provider = device.address.provider
        guard let sender = providers[provider] else {
            log(n, device, "failed", "no \(provider) credentials are configured on this server", job)
            metrics.outcome(provider, "unconfigured")
            throw .permanent("no \(provider) credentials are configured on this server")
        }
        if n.event.isSilent {
            let t = epochMillis(now())
            let opened: Int64
            do { opened = try await store.openPushWindow(key: "background:\(device.id)", now: t, staleAfter: backgroundInterval) } catch { throw .retry("\(error)") }
            guard opened == t else {
                metrics.outcome(provider, "throttled")
                return #"{"skipped":"a silent push went to this device less than the interval ago"}"#
            }
        }
        let outcome = await sender.send(n, to: device)
        switch outcome {
        case .delivered(let id):
            metrics.outcome(provider, "delivered")
            log(n, device, "delivered", id, job)
            return PushJSON.encode(["delivered": id])
        case .gone(let reason, let since):
            metrics.outcome(provider, "gone")
            let dropped: Bool
            do { dropped = try await store.dropDevice(id: device.id, reason: reason, now: epochMillis(now()), unlessRegisteredAfter: since) } catch {
                throw .retry("\(error)")
            }
            if dropped {
                log(n, device, "dropped", reason, job)
            } else {
                // Another delivery dropped it first, or the app registered the address again after the provider's time.
                let again = (try? await store.device(id: device.id))?.droppedAt == nil
                log(n, device, "failed", again ? "\(reason); registered again since, so kept" : "\(reason); already dropped", job)
            }
            return PushJSON.encode(["gone": reason])
        case .retry(let reason, let after):
            metrics.outcome(provider, "retry")
            log(n, device, "retry", reason, job)
            throw .retry(reason, after: after)
        case .failed(let reason):
            metrics.outcome(provider, "failed")
            log(n, device, "failed", reason, job)
            throw .permanent(reason)
        }
    }

    private func log(_ n: PushNotification, _ device: RegisteredDevice, _ outcome: String, _ detail: String, _ job: Job) {
        outcomeLog.post(PushDelivery(userID: n.userID, deviceID: device.id, provider: device.address.provider, event: n.event,
                                     documentID: n.documentID, outcome: outcome, detail: detail, jobID: job.id, at: epochMillis(now())))
    }
}
