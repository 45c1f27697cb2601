import Crypto
public import Foundation
public import Logging
import Model
import Synchronization

/// A job's arguments for ``JobKind/aiGenerate``.
public struct AIJobArguments: Codable, Sendable, Equatable {
    public var documentID: String
    public var requestID: String

    public init(documentID: String, requestID: String) {
        self.documentID = documentID
        self.requestID = requestID
    }

    /// As stored on the job.
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return (try? String(decoding: e.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// What an AI job records as its result: the usage per request, which the
/// jobs table keeps per workspace.
public struct AIJobResult: Codable, Sendable, Equatable {
    public var requestID: String
    public var model: String
    public var usage: ChatUsage
    public var flags: [String]
    /// Provider calls made (a blank, cut-off or rule-breaking answer is asked again once; 0 when answered from the cache).
    public var calls: Int
    /// Whether an identical earlier prompt's answer was given.
    public var cached: Bool
}

/// Answers one AI request of a draft: builds the prompt from the draft and
/// the brand kit, streams the provider's answer into the draft as it arrives
/// (at most every `partialInterval`), checks it against the brand's and the
/// platforms' rules (asking once more with the reason when it breaks them,
/// then delivering it flagged), and writes the suggestion as the server's
/// own edit. Writing the same outcome again changes nothing, so a rerun after
/// a crash leaves no trace.
public final class AIJobHandler: JobHandler {
    private let writer: ServerDocumentWriter
    private let client: ChatCompletionsClient
    private let usage: (any AIUsageStore)?
    private let monthlyTokenBudget: Int?
    private let partialInterval: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// Tells the requester the outcome (a push, or in-band): the notification and its unique key.
    private let notify: @Sendable (PushNotification, String) async -> Void

    /// - Parameters:
    ///   - usage: where usage is counted and answers are kept; nil: no budget and no cache.
    ///   - monthlyTokenBudget: tokens a workspace may use per calendar month (UTC); nil: no limit.
    public init(writer: ServerDocumentWriter, client: ChatCompletionsClient, usage: (any AIUsageStore)? = nil, monthlyTokenBudget: Int? = nil,
                partialInterval: Duration = .milliseconds(500), logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                notify: @escaping @Sendable (PushNotification, String) async -> Void = { _, _ in }) {
        self.writer = writer
        self.client = client
        self.usage = usage
        self.monthlyTokenBudget = monthlyTokenBudget
        self.partialInterval = partialInterval
        self.logger = logger
        self.now = now
        self.notify = notify
    }

    private var model: String { client.configuration.model }
    private var note: String? { client.configuration.note }

    public func run(_ job: Job) async throws(JobFailure) -> String {
        guard let args = try? JSONDecoder().decode(AIJobArguments.self, from: Data(job.arguments.utf8)),
              let name = try? DocumentName(parsing: args.documentID), name.kind == .draft
        else { throw .permanent("the job's arguments do not name a draft's request: \(job.arguments)") }
        let read: (DraftValue, AIRequest?, BrandKitValue?)
        do {
            let brandName = try DocumentName.brandKit(workspace: name.workspace)
            let brand = try await writer.read(brandName) { doc in try BrandKit(name: brandName, doc: doc).value }
            let (draft, request) = try await writer.read(name) { doc in
                let d = try Draft(name: name, doc: doc)
                return (d.value, d.aiRequest(args.requestID))
            }
            read = (draft, request, brand)
        } catch {
            throw .retry("cannot read \(name): \(error)")
        }
        let (draft, found, brand) = read
        guard let request = found else { throw .permanent("request \(args.requestID) is not in \(name)") }
        // Answered already (a rerun after the outcome was written), or taken back by the user.
        guard request.aiStatus == .requested || request.aiStatus == .generating else {
            return "{\"skipped\":\"request is \(request.status)\"}"
        }
        var messages = AIPrompt.messages(for: request, draft: draft, brand: brand)
        let month = Self.month(of: now())
        try await checkBudget(workspace: name.workspace, month: month)
        let promptKey = Self.promptKey(model: model, messages: messages)
        if let kept = try await cached(promptKey) {
            try await write(name, request.id, AIOutcome(status: .ready, result: kept.text, flags: kept.flags, model: kept.model,
                                                        note: [note, "answered from the cache: an identical request on the same draft and brand kit"]
                                                            .compactMap { $0 }.joined(separator: "; ")))
            await tellReady(job, name, request, draft.title)
            return Self.encode(AIJobResult(requestID: request.id, model: kept.model, usage: ChatUsage(promptTokens: 0, completionTokens: 0, cacheHitTokens: 0),
                                           flags: kept.flags, calls: 0, cached: true))
        }
        var usage = ChatUsage(promptTokens: 0, completionTokens: 0, cacheHitTokens: 0)
        var calls = 0
        var retriedIncomplete = false
        var retriedRules = false
        while true {
            calls += 1
            let answer = try await ask(messages, name: name, requestID: request.id)
            if let u = answer.usage { usage = usage + u }
            let text = answer.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty || answer.finishReason == "length" {
                guard !retriedIncomplete else {
                    throw .retry(text.isEmpty ? "the provider answered with nothing, twice" : "the answer was cut off at max_tokens, twice")
                }
                retriedIncomplete = true
                continue
            }
            let problems = AIPrompt.problems(of: text, for: request, draft: draft, brand: brand)
            if !problems.isEmpty, !retriedRules {
                retriedRules = true
                messages += [ChatMessage(role: "assistant", content: text),
                             ChatMessage(role: "user", content: "That breaks these rules: \(problems.joined(separator: "; ")). Write it again so that it keeps them.")]
                continue
            }
            try await write(name, request.id, AIOutcome(status: .ready, result: text, flags: problems, model: model, note: note))
            do {
                try await self.usage?.recordAIUsage(workspace: name.workspace, month: month, requestKey: job.uniqueKey ?? "job:\(job.id)",
                                                    usage: usage, now: epochMillis(now()))
                try await self.usage?.cacheAIAnswer(promptKey: promptKey, CachedAIAnswer(text: text, flags: problems, model: model), now: epochMillis(now()))
            } catch {
                // The suggestion is delivered; a usage record lost to a passing store failure is logged, not retried (that would call the provider again).
                logger.warning("AI usage not recorded", metadata: ["document": "\(name)", "error": "\(error)"])
            }
            await tellReady(job, name, request, draft.title)
            return Self.encode(AIJobResult(requestID: request.id, model: model, usage: usage, flags: problems, calls: calls, cached: false))
        }
    }

    static func encode(_ result: AIJobResult) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return (try? String(decoding: e.encode(result), as: UTF8.self)) ?? "{}"
    }

    /// `2026-12`: the month usage counts towards, in UTC.
    public static func month(of date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
    }

    /// The cache key of a prompt: the model and every message (so the draft's text, the request and the brand kit).
    static func promptKey(model: String, messages: [ChatMessage]) -> String {
        var text = model
        for m in messages { text += "\u{0}\(m.role)\u{0}\(m.content)" }
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private func checkBudget(workspace: String, month: String) async throws(JobFailure) {
        guard let budget = monthlyTokenBudget, let usage else { return }
        let used: Int
        do { used = try await usage.aiTokensUsed(workspace: workspace, month: month) } catch { throw .retry("cannot read the AI budget: \(error)") }
        guard used < budget else {
            throw .permanent("the workspace's monthly AI budget of \(budget) tokens is used up (\(used) used in \(month)); it renews next month")
        }
    }

    private func cached(_ key: String) async throws(JobFailure) -> CachedAIAnswer? {
        guard let usage else { return nil }
        do { return try await usage.cachedAIAnswer(promptKey: key) } catch { throw .retry("cannot read the AI cache: \(error)") }
    }

    /// One provider call, with the text so far written into the draft at most every `partialInterval`.
    private func ask(_ messages: [ChatMessage], name: DocumentName, requestID: String) async throws(JobFailure) -> ChatCompletion {
        let lastWrite = Mutex(ContinuousClock.now - partialInterval)
        do {
            return try await client.complete(messages) { [self] text in
                let due = lastWrite.withLock { last -> Bool in
                    guard ContinuousClock.now - last >= partialInterval else { return false }
                    last = ContinuousClock.now
                    return true
                }
                guard due else { return }
                // A partial text that cannot be written is no reason to stop the answer.
                try? await write(name, requestID, AIOutcome(status: .generating, result: text, model: model, note: note))
            }
        } catch {
            throw error.isRetryable ? .retry(error.description, after: error.retryAfter) : .permanent(error.description)
        }
    }

    private func write(_ name: DocumentName, _ requestID: String, _ outcome: AIOutcome) async throws(JobFailure) {
        do {
            try await writer.edit(name) { doc in
                let draft = try Draft(name: name, doc: doc)
                // A request the user took back meanwhile keeps the user's word.
                guard let r = draft.aiRequest(requestID), r.aiStatus != .accepted, r.aiStatus != .rejected else { return false }
                return try draft.recordAIOutcome(requestID, outcome)
            }
        } catch {
            throw .retry("cannot write the outcome into \(name): \(error)")
        }
    }

    public func discarded(_ job: Job, error: String) async {
        guard let args = try? JSONDecoder().decode(AIJobArguments.self, from: Data(job.arguments.utf8)),
              let name = try? DocumentName(parsing: args.documentID) else { return }
        do {
            try await write(name, args.requestID, AIOutcome(status: .failed, error: error, model: model))
        } catch {
            logger.warning("AI failure not written into the draft", metadata: ["document": "\(name)", "error": "\(error)"])
        }
        guard let (title, request) = try? await writer.read(name, { doc in
            let d = try Draft(name: name, doc: doc)
            return (d.value.title, d.aiRequest(args.requestID))
        }), let request, !request.requestedBy.isEmpty else { return }
        await notify(PushNotification(event: .aiFailed, userID: request.requestedBy, documentID: name.description,
                                      title: "AI \(request.kind) failed for \(Self.quoted(title, or: name))", body: String(error.prefix(120)), actor: ""),
                     "push.ai:\(job.id):failed")
    }

    /// The requester learns that the suggestion is in the draft (once per job, however often it reruns).
    private func tellReady(_ job: Job, _ name: DocumentName, _ request: AIRequest, _ title: String) async {
        guard !request.requestedBy.isEmpty else { return }
        await notify(PushNotification(event: .aiReady, userID: request.requestedBy, documentID: name.description,
                                      title: "AI \(request.kind) ready for \(Self.quoted(title, or: name))", body: "Open the draft to accept or reject it.", actor: ""),
                     "push.ai:\(job.id):ready")
    }

    static func quoted(_ title: String, or name: DocumentName) -> String {
        title.isEmpty ? name.description : "“\(title.prefix(60))”"
    }
}
