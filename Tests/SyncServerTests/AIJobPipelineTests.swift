import Testing
import AsyncHTTPClient
import Foundation
import CRDT
import Logging
import Model
import SyncProtocol
import SyncServer
import Synchronization
import TestHarness
import TestBasics

/// The server's side of an AI request, in one process on a real SQLite
/// store: rooms, the projector that follows their commits, the job worker,
/// the AI handler calling a local provider that checks the contract, and
/// the server's edits coming back to a subscribed device.
final class JobPipeline: Sendable {
    let store: SQLiteDocumentStore
    let registry: RoomRegistry
    let projector: Projector
    let wakeup = Wakeup()
    let fake: FakeChatProvider
    let http: HTTPClient
    let handler: AIJobHandler
    let worker: JobWorker
    let device = Inbox()
    private let tasks = Mutex<[Task<Void, any Error>]>([])

    init(retry: RetryPolicy = RetryPolicy(base: .milliseconds(20), cap: .milliseconds(200)), monthlyTokenBudget: Int? = nil) async throws {
        var logger = Logger(label: "pipeline")
        logger.logLevel = .warning
        store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        let wakeup = self.wakeup
        projector = Projector(store: store, triggers: ProjectionTriggers(jobs: store, wakeup: wakeup, logger: logger, now: { epochMillis(Date()) }), logger: logger)
        let projector = self.projector
        registry = RoomRegistry(store: store, onCommit: { id, seq, _ in projector.committed(documentID: id, seq: seq) })
        fake = FakeChatProvider()
        try await fake.start()
        let config = AIProviderConfiguration(baseURL: fake.baseURL, apiKey: fake.apiKey, model: fake.model)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: ChatCompletionsClient.httpConfiguration(for: config))
        handler = AIJobHandler(writer: ServerDocumentWriter(registry: registry), client: ChatCompletionsClient(configuration: config, http: http),
                               usage: store, monthlyTokenBudget: monthlyTokenBudget, partialInterval: .milliseconds(50), logger: logger)
        var wc = JobWorker.Configuration(workerID: "test-worker")
        wc.retry = retry
        wc.lease = .seconds(6)
        worker = JobWorker(store: store, handlers: [.aiGenerate: handler], configuration: wc, wakeup: wakeup, logger: logger)
        let inbox = device
        _ = try await registry.room("w1/draft/d1").subscribe(2) { inbox.add($0) }
        let (p, w) = (projector, worker)
        tasks.withLock { $0 = [Task { try await p.run() }, Task { try await w.run() }] }
    }

    func stop() async throws {
        for t in tasks.withLock({ $0 }) { t.cancel() }
        try await http.shutdown()
        fake.stop()
    }

    /// Sends a client's edit to its room as the editor alice on connection 1.
    func send(_ update: [UInt8], to id: String) async throws {
        let result = await registry.room(id).apply(update, from: 1, userID: "alice", role: .editor)
        guard case .acked = result else { throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "\(result)"]) }
    }

    /// The draft as the subscribed device sees it from what the room relayed.
    func deviceDraft() throws -> Draft {
        let doc = Doc(clientID: 77)
        for u in device.updates { try doc.applyUpdate(u) }
        return try Draft(name: DocumentName(parsing: "w1/draft/d1"), doc: doc)
    }

    func aiJobs() async throws -> [Job] { try await store.jobs(state: nil, kind: .aiGenerate, limit: 100) }
}

/// A client's document whose every transaction is collected as an update to send.
final class ClientDoc {
    let doc: Doc
    private(set) var pending: [[UInt8]] = []
    init(clientID: Int) {
        doc = Doc(clientID: clientID)
        doc.onUpdate { [unowned self] u, _ in self.pending.append(u) }
    }
    func take() throws -> [UInt8] {
        defer { pending = [] }
        return try Updates.merge(pending)
    }
}

@Suite("AI jobs: request, answer, accept")
struct AIJobPipelineTests {
    static let draftName = try! DocumentName(parsing: "w1/draft/d1")
    static let brandName = try! DocumentName(parsing: "w1/brandkit/main")

    /// Sets up the brand kit and a draft on X with one AI request; returns the client's draft doc and the request id.
    static func prepare(_ p: JobPipeline, kind: String = "caption") async throws -> (ClientDoc, String) {
        let brand = ClientDoc(clientID: 501)
        let kit = try BrandKit(name: brandName, doc: brand.doc)
        try kit.setVoice("Warm, plain words, no hype.")
        try kit.addBannedWord("cheap")
        try await p.send(try brand.take(), to: brandName.description)
        let client = ClientDoc(clientID: 502)
        let draft = try Draft(name: draftName, doc: client.doc)
        try draft.create(title: "Friday jazz night")
        try draft.appendCaption("Live jazz at the café this Friday.")
        try draft.setPlatform(.x)
        let id = try draft.requestAI(kind: kind, prompt: "make it inviting", by: "alice")
        try await p.send(try client.take(), to: draftName.description)
        return (client, id)
    }

    @Test("a request made offline is answered in the draft: streamed, checked against the brand's rules, written once")
    func answered() async throws {
        let p = try await JobPipeline()
        defer { Task { try await p.stop() } }
        let first = "Great jazz, cheap drinks, Friday at the café. #jazz"
        let second = "Warm evenings deserve live jazz: join us at the café this Friday and bring a friend along for the music. #jazz"
        p.fake.enqueue(.stream(text: first), .stream(text: second, pieceDelay: .milliseconds(40)))
        let (client, id) = try await Self.prepare(p)
        try await eventually("the suggestion on the device", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(id)?.aiStatus == .ready }

        let seen = try p.deviceDraft().aiRequest(id)
        #expect(seen?.result == second, "split seed \(p.fake.splitSeed)")
        #expect(seen?.flags == [] && seen?.model == p.fake.model && seen?.requestedBy == "alice")
        // The device saw the answer grow before it was ready.
        var statuses: [String] = []
        let replay = Doc(clientID: 78)
        for u in p.device.updates {
            try replay.applyUpdate(u)
            if let s = try Draft(name: Self.draftName, doc: replay).aiRequest(id)?.status, statuses.last != s { statuses.append(s) }
        }
        #expect(statuses.first == "requested" && statuses.last == "ready" && statuses.contains("generating"), "\(statuses)")
        // The first answer broke the banned-word rule: asked again, with the reason.
        #expect(p.fake.requests.count == 2)
        #expect(p.fake.requests.last?.messages.last?.content.contains("banned word \"cheap\"") == true)
        #expect(p.fake.requests.first?.messages.first?.content.contains("Warm, plain words") == true)
        #expect(p.fake.requests.first?.messages.first?.content.contains("at most 280 characters") == true)

        // The outcome is written before the job is recorded completed.
        try await eventually("the job completed") { try await p.aiJobs().first?.state == .completed }
        let jobs = try await p.aiJobs()
        #expect(jobs.count == 1 && jobs[0].state == .completed && jobs[0].attempt == 1)
        let result = try JSONDecoder().decode(AIJobResult.self, from: Data((jobs[0].result ?? "").utf8))
        #expect(result.usage == ChatUsage(promptTokens: 84, completionTokens: 34, cacheHitTokens: 0) && result.calls == 2)

        // Run again (a rerun after a crash): nothing new reaches the device.
        let before = p.device.updates.count
        #expect(try await p.handler.run(jobs[0]).contains("skipped"))
        // The same request synced again is still one job.
        try await p.send(try Updates.merge([try client.doc.encodeStateAsUpdate()]), to: Self.draftName.description)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await p.aiJobs().count == 1)
        #expect(p.device.updates.count == before)

        // Accepting applies the suggestion as one edit, which the other device receives.
        for u in p.device.updates { try client.doc.applyUpdate(u) }
        _ = try client.take()
        try Draft(name: Self.draftName, doc: client.doc).acceptAI(id)
        try await p.send(try client.take(), to: Self.draftName.description)
        let device = try p.deviceDraft()
        #expect(device.caption.toString() == second && device.aiRequest(id)?.aiStatus == .accepted)
        #expect(p.fake.violations.isEmpty, "\(p.fake.violations)")
    }

    @Test("an answer that breaks the rules twice is delivered flagged; a blank answer is asked again")
    func flagged() async throws {
        let p = try await JobPipeline()
        defer { Task { try await p.stop() } }
        let long = String(repeating: "Jazz tonight, cheap and cheerful. ", count: 12)
        p.fake.enqueue(.stream(text: "   "), .stream(text: long), .stream(text: long))
        let (_, id) = try await Self.prepare(p)
        try await eventually("the flagged suggestion", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(id)?.aiStatus == .ready }
        let r = try p.deviceDraft().aiRequest(id)
        let trimmed = long.trimmingCharacters(in: .whitespaces)
        #expect(r?.result == trimmed)
        #expect(r?.flags == ["uses the banned word \"cheap\"", "\(trimmed.count) characters; x allows 280"])
        #expect(p.fake.requests.count == 3)
    }

    @Test("a bad key fails at once with a clear status; a rate limit waits for Retry-After and the next attempt answers")
    func providerErrors() async throws {
        let p = try await JobPipeline()
        defer { Task { try await p.stop() } }
        p.fake.enqueue(.error(status: 401, code: "authentication_error", message: "Incorrect API key provided"))
        let (client, id) = try await Self.prepare(p)
        try await eventually("the failure in the draft", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(id)?.aiStatus == .failed }
        #expect(try p.deviceDraft().aiRequest(id)?.error?.contains("refused the API key") == true)
        try await eventually("the job discarded") { try await p.aiJobs().first?.state == .discarded }
        var jobs = try await p.aiJobs()
        #expect(jobs.count == 1 && jobs[0].state == .discarded && jobs[0].attempt == 1 && jobs[0].errors.count == 1)

        // A second request meets a rate limit with Retry-After: 1, then an answer.
        p.fake.enqueue(.error(status: 429, code: "rate_limit_exceeded", message: "Rate limit reached", headers: ["Retry-After": "1"]),
                       .stream(text: "See you Friday for jazz at the café. #jazz"))
        let second = try Draft(name: Self.draftName, doc: client.doc).requestAI(kind: "hashtags", prompt: "tags please", by: "alice")
        try await p.send(try client.take(), to: Self.draftName.description)
        try await eventually("the second answer", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(second)?.aiStatus == .ready }
        try await eventually("the second job completed") { try await p.aiJobs().contains { $0.arguments.contains(second) && $0.state == .completed } }
        jobs = try await p.aiJobs()
        let job = try #require(jobs.first { $0.arguments.contains(second) })
        #expect(job.state == .completed && job.attempt == 2 && job.errors.first?.message.contains("rate_limited") == true)
        let requests = p.fake.requests
        #expect(requests.count == 3)
        if requests.count == 3 { #expect(requests[2].at - requests[1].at >= .seconds(1), "Retry-After was not honoured") }
    }

    @Test("an identical request on the same draft is answered from the cache, without a provider call")
    func cached() async throws {
        let p = try await JobPipeline()
        defer { Task { try await p.stop() } }
        let text = "Jazz on Friday at the café: come early for the good seats. #jazz"
        p.fake.enqueue(.stream(text: text))
        let (client, first) = try await Self.prepare(p)
        try await eventually("the first answer", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(first)?.aiStatus == .ready }
        let second = try Draft(name: Self.draftName, doc: client.doc).requestAI(kind: "caption", prompt: "make it inviting", by: "alice")
        try await p.send(try client.take(), to: Self.draftName.description)
        try await eventually("the cached answer", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(second)?.aiStatus == .ready }
        let r = try p.deviceDraft().aiRequest(second)
        #expect(r?.result == text && r?.note?.contains("from the cache") == true)
        #expect(p.fake.requests.count == 1, "the provider was asked again")
        // Another prompt is a new call.
        p.fake.enqueue(.stream(text: "#jazz #friday"))
        let third = try Draft(name: Self.draftName, doc: client.doc).requestAI(kind: "hashtags", prompt: "tags", by: "alice")
        try await p.send(try client.take(), to: Self.draftName.description)
        try await eventually("the third answer", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(third)?.aiStatus == .ready }
        #expect(p.fake.requests.count == 2)
    }

    @Test("a workspace over its monthly token budget gets a failed request that says so, and the provider is not called")
    func budget() async throws {
        // Each answer costs 42 + 17 tokens: the second request finds 59 used of 100, the third 118.
        let p = try await JobPipeline(monthlyTokenBudget: 100)
        defer { Task { try await p.stop() } }
        p.fake.answerAlways(.stream(text: "Friday jazz at the café. #jazz"))
        let (client, first) = try await Self.prepare(p)
        try await eventually("the first answer", timeout: .seconds(90)) { try p.deviceDraft().aiRequest(first)?.aiStatus == .ready }
        var ids: [String] = []
        for prompt in ["shorter", "warmer"] {
            let id = try Draft(name: Self.draftName, doc: client.doc).requestAI(kind: "caption", prompt: prompt, by: "alice")
            try await p.send(try client.take(), to: Self.draftName.description)
            try await eventually("request \(prompt) answered", timeout: .seconds(90)) {
                [.ready, .failed].contains(try p.deviceDraft().aiRequest(id)?.aiStatus)
            }
            ids.append(id)
        }
        let draft = try p.deviceDraft()
        #expect(draft.aiRequest(ids[0])?.aiStatus == .ready)
        #expect(draft.aiRequest(ids[1])?.aiStatus == .failed && draft.aiRequest(ids[1])?.error?.contains("monthly AI budget of 100 tokens") == true,
                "\(String(describing: draft.aiRequest(ids[1])))")
        #expect(p.fake.requests.count == 2)
        let month = AIJobHandler.month(of: Date())
        #expect(try await p.store.aiTokensUsed(workspace: "w1", month: month) == 118)
    }
}
