import Foundation
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
    /// Provider calls made (a blank, cut-off or rule-breaking answer is asked again once).
    public var calls: Int
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
    private let partialInterval: Duration
    private let logger: Logger

    public init(writer: ServerDocumentWriter, client: ChatCompletionsClient, partialInterval: Duration = .milliseconds(500), logger: Logger) {
        self.writer = writer
        self.client = client
        self.partialInterval = partialInterval
        self.logger = logger
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
            let result = AIJobResult(requestID: request.id, model: model, usage: usage, flags: problems, calls: calls)
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            return (try? String(decoding: e.encode(result), as: UTF8.self)) ?? "{}"
        }
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
    }
}
