import CRDT
import Foundation
import Model
import SyncProtocol

/// A document held in memory while subscribed, with what its last change emitted.
final class LiveDocument {
    let doc: Doc
    /// The last outbox entry whose content `doc` held when loaded.
    let outboxThrough: Int
    var conflicts: [MapConflict] = []
    var localUpdates: [[UInt8]] = []

    init(_ doc: Doc, outboxThrough: Int) {
        self.doc = doc
        self.outboxThrough = outboxThrough
        doc.onAfterTransaction { [unowned self] txn in if !txn.local { self.conflicts += txn.conflicts } }
        doc.onUpdate { [unowned self] u, txn in if txn.local { self.localUpdates.append(u) } }
    }
}

/// Why a session ended early.
enum SessionEnd: Error, Sendable {
    /// The server closed or the socket broke; `hint` is a minimum wait before reconnecting.
    case disconnected(String, hint: Double)
    case fatal(ClientError)
}

/// One connection's worth of the Nest protocol (PROTOCOL.md section 4), run
/// on one task: the caller feeds it frames and ticks; it writes through `send`.
/// Local edits are never sent one by one from memory: the outbox in SQLite
/// is the single source, merged per document into one update per round trip,
/// and dropped only on the server's ack.
final class SyncSession {
    let store: LocalStore
    var profile: Profile
    let options: SyncOptions
    let send: ([UInt8]) async throws -> Void
    var report = SyncReport()

    var limits = ConnectionLimits(maxMessageBytes: 1 << 20, maxDocuments: 100, updatesPerSecond: 50)
    var welcomed = false
    /// A `registerDevice` sent and not answered yet (a session waits for the answer before it ends).
    var deviceRegistration: Int?
    var catalogCursor: Int?
    var catalogAnswered = false
    var lastCatalogRequest = Date.distantPast
    var initialQueued = false
    var finalCatalogAsked = false
    var savedCursor: Int?
    var savedAt = Date.distantPast
    var docs: [String: LiveDocument] = [:]
    var queue: [String] = []
    var queued = Set<String>()
    var catalogSeq: [String: Int] = [:]
    var subscribed = Set<String>()
    /// Subscriptions not yet answered by their `syncStep2`.
    var awaitingStep2 = Set<String>()
    /// Per document, the `syncStep2` answers still expected (to a subscribe or
    /// to a state vector), in request order, each with the server sequence it
    /// is known to cover: that of a catalog the server read before the request.
    /// Only such an answer may raise the stored `server_seq`: an ack or a
    /// broadcast can arrive while another client's earlier update is still on
    /// its way, so their sequences say nothing about what this copy holds.
    var expectedStep2: [String: [Int?]] = [:]
    var awaitingStep1 = Set<String>()
    var inflight: [Int: (document: String, through: Int, entries: Int)] = [:]
    var inflightDocs = Set<String>()
    var retryAfter: [String: Date] = [:]
    var failedDocs = Set<String>()
    /// Watch mode: documents the server could not serve for a passing reason
    /// (its store unavailable, overloaded), subscribed again at these times.
    var resubscribeAt: [String: Date] = [:]
    /// Seconds before the first new subscribe of such a document; doubled per failure, up to a minute.
    var resubscribeDelay = 2.0
    var resubscribeFailures: [String: Int] = [:]
    var nextClientSeq = 1
    var lastRowSeen = 0
    var total = 0
    let deadline: Date

    init(store: LocalStore, profile: Profile, options: SyncOptions, send: @escaping ([UInt8]) async throws -> Void) {
        self.store = store
        self.profile = profile
        self.options = options
        self.send = send
        deadline = Date().addingTimeInterval(options.timeout)
    }

    func write(_ m: NestMessage) async throws {
        let bytes = m.encoded()
        report.bytesSent += bytes.count
        try await send(bytes)
    }

    func start() async throws {
        try await write(.hello(minVersion: NestMessage.version, maxVersion: NestMessage.version, client: options.clientName, token: ""))
    }

    /// Handles one frame; returns true when the session is finished.
    func receive(_ bytes: [UInt8]) async throws -> Bool {
        report.bytesReceived += bytes.count
        let message: NestMessage
        do { message = try NestMessage(decoding: bytes) } catch {
            throw SessionEnd.fatal(.protocolViolation("\(error)"))
        }
        switch message {
        case .welcome(_, let user, let workspaces, let limits, _):
            welcomed = true
            self.limits = limits
            profile.user = user
            profile.workspaces = workspaces
            try store.saveProfile(profile)
            lastRowSeen = try store.lastUpdateSeq()
            if let device = try store.pushDevice() {
                deviceRegistration = 1
                // Only a watching client shows notifications: a one-off sync leaves them to pushes.
                try await write(.registerDevice(requestID: 1, provider: device.address.provider, fields: device.address.fields,
                                                inBand: options.mode == .watch))
            }
            try await requestCatalog()
        case .catalog(let cursor, let entries):
            catalogAnswered = true
            catalogCursor = cursor
            for e in entries where e.serverSeq > (try store.serverSeq(e.documentID)) {
                if subscribed.contains(e.documentID) {
                    // Broadcasts bring a subscribed document's updates, but one may
                    // still be on its way after this answer, and the cursor already
                    // counts it: ask for what is missing rather than trust it arrives.
                    try await refresh(e.documentID, covering: e.serverSeq)
                } else {
                    catalogSeq[e.documentID] = e.serverSeq
                    enqueue(e.documentID)
                }
            }
            if !initialQueued {
                initialQueued = true
                for name in try store.pendingDocuments() { enqueue(name) }
                if options.mode == .watch || options.fullResync { for name in try store.documentNames() { enqueue(name) } }
            }
            try await pump()
        case .syncStep2(let name, let update):
            var marks = expectedStep2[name] ?? []
            guard !marks.isEmpty || subscribed.contains(name) else { break }
            let mark = marks.isEmpty ? nil : marks.removeFirst()
            expectedStep2[name] = marks.isEmpty ? nil : marks
            let before = docs[name]?.doc.stateVector
            try applyRemote(name, update, serverSeq: mark, counted: false)
            if let after = docs[name]?.doc.stateVector, after != before {
                report.remoteUpdates += 1
                report.documentsChanged += 1
                options.onRemoteChange(name)
            }
            if awaitingStep2.remove(name) != nil {
                resubscribeFailures[name] = nil
                report.documentsSynced += 1
                progress()
            }
        case .syncStep1(let name, let sv):
            guard awaitingStep1.remove(name) != nil, let live = docs[name] else { break }
            try await answerStep1(name, live, sv)
        case .broadcast(let name, _, let update):
            guard subscribed.contains(name) else { break }
            try applyRemote(name, update, serverSeq: nil, counted: true)
            options.onRemoteChange(name)
        case .ack(let name, let clientSeq, _):
            guard let f = inflight.removeValue(forKey: clientSeq), f.document == name else { break }
            inflightDocs.remove(name)
            if f.through > 0 { try store.acknowledge(name, through: f.through) }
            report.updatesAcked += 1
            report.editsAcked += f.entries
            try await flush(name)
            progress()
        case .refused(let name, let clientSeq, let code, let text):
            guard let f = inflight.removeValue(forKey: clientSeq) else { break }
            inflightDocs.remove(name)
            if [ErrorCode.rateLimited, .storeUnavailable, .internal].contains(code) {
                // Transient: the same update goes again shortly, merged with anything newer.
                retryAfter[name] = Date().addingTimeInterval(code == .rateLimited ? 1 : 2)
            } else {
                if f.through > 0 { try store.refuse(name, through: f.through, code: code.name, text: text) }
                report.refused.append(DocumentProblem(document: name, code: code.name, text: text))
            }
        case .error(let code, let text, let name):
            // A busy server asks for a later reconnect; everything else about the connection is final.
            if name.isEmpty && code == .overloaded { throw SessionEnd.disconnected("server busy: \(text)", hint: 3) }
            if name.isEmpty { throw SessionEnd.fatal(Self.fatal(code, text)) }
            try documentFailed(name, code: code, text: text)
        case .event(let kind, let name, let payload):
            options.onEvent(kind, name, payload)
        case .deviceRegistered(let request, let deviceID) where request == deviceRegistration:
            deviceRegistration = nil
            try store.recordPushRegistration(deviceID: deviceID, refused: nil)
            options.onEvent("device.registered", "", deviceID)
        case .deviceRefused(let request, let code, let text) where request == deviceRegistration:
            deviceRegistration = nil
            try store.recordPushRegistration(deviceID: nil, refused: "\(code.name): \(text)")
            options.onEvent("device.refused", "", text)
        case .ping(let nonce):
            try await write(.pong(nonce: nonce))
        case .pong, .awareness:
            break
        default:
            throw SessionEnd.fatal(.protocolViolation("message type \(message.type) is not sent by servers"))
        }
        return try await finishedIfDone()
    }

    /// Periodic work: deadline, edits other processes stored, catalog polling, retries.
    func tick() async throws -> Bool {
        guard welcomed else {
            if options.mode == .once && Date() > deadline { return true }
            return false
        }
        if options.mode == .watch {
            let now = Date()
            for (name, at) in resubscribeAt where at <= now {
                resubscribeAt[name] = nil
                failedDocs.remove(name)
                enqueue(name)
            }
            try await pickUpStoredChanges()
            if catalogAnswered && Date().timeIntervalSince(lastCatalogRequest) > options.catalogInterval && expectedStep2.isEmpty {
                try await requestCatalog()
            }
        }
        // One query for which documents have pending edits, not one per subscribed document.
        let pending = Set(try store.pendingDocuments())
        for name in subscribed where pending.contains(name) && !inflightDocs.contains(name) { try await flush(name) }
        if options.mode == .once && Date() > deadline { return true }
        return try await finishedIfDone()
    }

    func requestCatalog() async throws {
        lastCatalogRequest = Date()
        catalogAnswered = false
        let saved = try store.meta("catalog_cursor").flatMap(Int.init) ?? 0
        try await write(.catalogRequest(cursor: catalogCursor ?? saved))
    }

    func enqueue(_ name: String) {
        guard !subscribed.contains(name), !failedDocs.contains(name), queued.insert(name).inserted else { return }
        queue.append(name)
        total += 1
    }

    /// Subscribes queued documents while there is room under the server's limit.
    func pump() async throws {
        let room = max(0, limits.maxDocuments - subscribed.count)
        guard room > 0, !queue.isEmpty else { return }
        let batch = Array(queue.prefix(min(room, 100)))
        queue.removeFirst(batch.count)
        var states: [DocumentState] = []
        for name in batch {
            queued.remove(name)
            let live: LiveDocument
            if let l = docs[name] { live = l } else {
                let (doc, mark) = try store.loadWithOutboxMark(name)
                live = LiveDocument(doc, outboxThrough: mark)
                docs[name] = live
            }
            subscribed.insert(name)
            awaitingStep2.insert(name)
            expectedStep2[name, default: []].append(catalogSeq.removeValue(forKey: name))
            awaitingStep1.insert(name)
            states.append(DocumentState(documentID: name, stateVector: live.doc.encodeStateVector()))
        }
        try await write(.subscribe(states))
        progress()
    }

    /// Asks the server for what a subscribed document lacks (its answer is a
    /// `syncStep2`), known to cover `serverSeq` because the server read it first.
    func refresh(_ name: String, covering serverSeq: Int) async throws {
        guard let live = docs[name] else { return }
        expectedStep2[name, default: []].append(serverSeq)
        try await write(.syncStep1(documentID: name, stateVector: live.doc.encodeStateVector()))
    }

    /// The server's state vector: send whatever it lacks. When the outbox of
    /// the document is empty and the diff holds no structs, the server has
    /// everything (a diff always repeats the delete set), so nothing is sent.
    func answerStep1(_ name: String, _ live: LiveDocument, _ sv: [UInt8]) async throws {
        let diff: [UInt8]
        do { diff = try live.doc.encodeStateAsUpdate(since: sv) } catch {
            throw SessionEnd.fatal(.protocolViolation("state vector for \(name): \(error.description)"))
        }
        // Entries written after the document was loaded (by another process)
        // are not in the diff: they stay in the outbox for ``flush(_:)``.
        let covered = try store.pending(document: name).filter { $0.seq <= live.outboxThrough }
        if covered.isEmpty && diff.first == 0 { return }
        try await sendUpdate(name, diff, through: covered.last?.seq ?? 0, entries: covered.count)
    }

    /// Sends the document's pending outbox entries, merged, unless an update of it is already in flight.
    func flush(_ name: String) async throws {
        guard subscribed.contains(name), !inflightDocs.contains(name), !awaitingStep1.contains(name), !failedDocs.contains(name) else { return }
        if let t = retryAfter[name] {
            if t > Date() { return }
            retryAfter[name] = nil
        }
        let pending = try store.pending(document: name)
        guard !pending.isEmpty else { return }
        let cap = max(1024, min(limits.maxMessageBytes / 2, 4 << 20))
        if pending[0].update.count > cap {
            try store.refuse(name, through: pending[0].seq, code: "message_too_large",
                             text: "edit of \(pending[0].update.count) bytes exceeds the server's limit of \(limits.maxMessageBytes)")
            report.refused.append(DocumentProblem(document: name, code: "message_too_large", text: "one edit is larger than the server accepts"))
            return try await flush(name)
        }
        var batch: [OutboxEntry] = []
        var bytes = 0
        for e in pending {
            if !batch.isEmpty && bytes + e.update.count > cap { break }
            batch.append(e)
            bytes += e.update.count
        }
        let merged: [UInt8]
        if batch.count == 1 { merged = batch[0].update } else {
            do { merged = try Updates.merge(batch.map(\.update)) } catch {
                throw SessionEnd.fatal(.corruptDocument(name, error.description))
            }
        }
        try await sendUpdate(name, merged, through: batch.last?.seq ?? 0, entries: batch.count)
    }

    func sendUpdate(_ name: String, _ update: [UInt8], through: Int, entries: Int) async throws {
        let seq = nextClientSeq
        nextClientSeq += 1
        inflight[seq] = (name, through, entries)
        inflightDocs.insert(name)
        try await write(.update(documentID: name, clientSeq: seq, update: update))
    }

    /// Applies a server update to the live document and stores it, with any
    /// conflict-log entry it caused, in one SQLite transaction.
    func applyRemote(_ name: String, _ update: [UInt8], serverSeq: Int?, counted: Bool) throws {
        guard let live = docs[name] else { return }
        if update == [0, 0] {
            if let serverSeq { try store.commitRemote(name, updates: [], serverSeq: serverSeq) }
            return
        }
        live.conflicts = []
        live.localUpdates = []
        do { try live.doc.applyUpdate(update) } catch {
            throw SessionEnd.fatal(.protocolViolation("server sent an invalid update for \(name): \(error.description)"))
        }
        var recorded = 0
        if !live.conflicts.isEmpty {
            let conflicts = live.conflicts
            try? live.doc.transact { _ in
                recorded = (try ConflictLog.record(conflicts, in: live.doc)).count
                if recorded > 0 { ModelSchema.recordAuthor(live.doc, user: profile.user) }
            }
        }
        let followUp = live.localUpdates.isEmpty ? nil : (live.localUpdates.count == 1 ? live.localUpdates[0] : try? Updates.merge(live.localUpdates))
        try store.commitRemote(name, updates: [update], serverSeq: serverSeq, localFollowUp: followUp)
        if counted {
            report.remoteUpdates += 1
            report.documentsChanged += 1
        }
        report.conflictsRecorded += recorded
    }

    /// In watch mode: edits made by other `nest` processes land in SQLite;
    /// apply them to the live documents and subscribe new documents.
    func pickUpStoredChanges() async throws {
        let rows = try store.updates(after: lastRowSeen)
        guard !rows.isEmpty else { return }
        lastRowSeen = rows.last?.seq ?? lastRowSeen
        for row in rows {
            if let live = docs[row.name] {
                try? live.doc.applyUpdate(row.data)
            } else {
                enqueue(row.name)
            }
        }
        try await pump()
    }

    func documentFailed(_ name: String, code: ErrorCode, text: String) throws {
        awaitingStep2.remove(name)
        expectedStep2[name] = nil
        awaitingStep1.remove(name)
        subscribed.remove(name)
        failedDocs.insert(name)
        // Only answers that will not change on retry turn pending edits into refused ones.
        let permanent: Set<ErrorCode> = [.forbidden, .readOnly, .unknownDocument, .malformedUpdate]
        if permanent.contains(code), let seq = try store.pending(document: name).last?.seq {
            try store.refuse(name, through: seq, code: code.name, text: text)
            report.refused.append(DocumentProblem(document: name, code: code.name, text: text))
        }
        report.documentProblems.append(DocumentProblem(document: name, code: code.name, text: text))
        let passing: Set<ErrorCode> = [.storeUnavailable, .internal, .overloaded, .rateLimited]
        if options.mode == .watch && passing.contains(code) {
            let failures = resubscribeFailures[name, default: 0]
            resubscribeFailures[name] = failures + 1
            resubscribeAt[name] = Date().addingTimeInterval(min(60, resubscribeDelay * Double(1 << min(failures, 6))))
        }
    }

    func progress() {
        let done = max(0, total - queue.count - awaitingStep2.count)
        options.onStatus(.syncing(SyncProgress(documentsDone: done, documentsTotal: total, pendingUpdates: inflight.values.reduce(0) { $0 + $1.entries })))
    }

    /// Once mode ends when the catalog is answered, every queued document
    /// fetched, and nothing is in flight or still sendable.
    func finishedIfDone() async throws -> Bool {
        guard welcomed, catalogAnswered, deviceRegistration == nil, queue.isEmpty, expectedStep2.isEmpty, awaitingStep1.isEmpty, inflight.isEmpty else {
            try await pump()
            return false
        }
        let pending = Set(try store.pendingDocuments())
        if subscribed.contains(where: { pending.contains($0) && !failedDocs.contains($0) }) { return false }
        if report.updatesAcked > 0 && !finalCatalogAsked {
            // Our own updates moved the server past the cursor; one more catalog
            // round moves the cursor past them, so the next reconnect lists
            // only what others changed. The documents it names are confirmed
            // with a state vector each (see the catalog case).
            finalCatalogAsked = true
            try await requestCatalog()
            return false
        }
        try saveProgress()
        if options.mode == .watch { return false }
        report.complete = true
        return true
    }

    func saveProgress() throws {
        // Watch mode passes here on every quiet tick: write only when there is news.
        guard catalogCursor != savedCursor || Date().timeIntervalSince(savedAt) > 30 else { return }
        var values: [String: String?] = ["last_sync_at": String(Date().timeIntervalSince1970)]
        if let c = catalogCursor { values["catalog_cursor"] = String(c) }
        try store.setMeta(values)
        savedCursor = catalogCursor
        savedAt = Date()
    }

    static func fatal(_ code: ErrorCode, _ text: String) -> ClientError {
        switch code {
        case .unauthenticated, .tokenExpired: return .unauthenticated("\(code.name): \(text)")
        case .forbidden, .membershipRevoked: return .forbidden("\(code.name): \(text)")
        case .unsupportedVersion, .badMessage: return .protocolViolation("\(code.name): \(text)")
        default: return .network("server error \(code.name): \(text)")
        }
    }
}
