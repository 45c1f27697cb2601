import CRDT
public import Foundation

/// What an AI request asks for.
public enum AIKind: String, Sendable, CaseIterable, Codable {
    /// A new caption from the draft and the prompt.
    case caption
    /// Hashtags for the draft.
    case hashtags
    /// The caption rewritten in a tone (`tone`).
    case rewrite
    /// The caption translated (`language`).
    case translate
    /// The caption shortened to fit a platform (`platform`).
    case shorten

    /// Whether accepting the suggestion replaces the caption (else it adds hashtags).
    public var replacesCaption: Bool { self != .hashtags }
}

/// Where an AI request is. The client writes `requested`, `accepted` and
/// `rejected`; the server writes the others.
public enum AIStatus: String, Sendable, CaseIterable, Codable {
    case requested, generating, ready, failed, accepted, rejected
}

/// An AI generation request recorded in a draft (root map `ai`: request id →
/// one object); the server's job fills in the suggestion or the error.
public struct AIRequest: Sendable, Equatable, Codable {
    public var id: String
    public var kind: String
    public var prompt: String
    public var status: String
    public var requestedBy: String
    public var requestedAt: String
    /// Rewrite: the tone asked for.
    public var tone: String?
    /// Translate: the language asked for.
    public var language: String?
    /// Shorten: the platform whose limit the text must fit.
    public var platform: String?
    /// `low`: the server may wait for its provider's off-peak window (cheaper); nil: as soon as it can.
    public var priority: String?
    /// The suggestion (while `generating`: the text so far).
    public var result: String?
    public var error: String?
    /// Platform or brand rules the suggestion breaks (delivered flagged).
    public var flags: [String]
    /// Who answered: the provider's model, and a note to show with it.
    public var model: String?
    public var note: String?

    /// The request's status, if it is one this build knows.
    public var aiStatus: AIStatus? { AIStatus(rawValue: status) }
}

/// What the server writes into a request.
public struct AIOutcome: Sendable, Equatable {
    public var status: AIStatus
    public var result: String?
    public var error: String?
    public var flags: [String]
    public var model: String?
    public var note: String?

    public init(status: AIStatus, result: String? = nil, error: String? = nil, flags: [String] = [], model: String? = nil, note: String? = nil) {
        self.status = status
        self.result = result
        self.error = error
        self.flags = flags
        self.model = model
        self.note = note
    }
}

extension Draft {
    var aiMap: YMap { doc.getMap("ai") }

    /// Records an AI generation request; returns its id. The server's job
    /// answers it in the draft.
    public func requestAI(kind: String, prompt: String, by user: String, tone: String? = nil, language: String? = nil,
                          platform: Platform? = nil, lowPriority: Bool = false, now: Date = Date()) throws(ModelError) -> String {
        guard let k = AIKind(rawValue: kind) else {
            throw .invalidText("unknown AI request kind \"\(kind)\": use \(AIKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .invalidText("the prompt is empty") }
        try Self.validText(prompt)
        if k == .rewrite, tone?.isEmpty ?? true { throw .invalidText("a rewrite needs a tone (--tone)") }
        if k == .translate, language?.isEmpty ?? true { throw .invalidText("a translation needs a language (--language)") }
        if k == .shorten, platform == nil { throw .invalidText("shortening needs a platform (--platform)") }
        let id = DocumentName.newID()
        var pairs: [(String, YAny)] = [
            ("kind", .string(kind)), ("prompt", .string(prompt)), ("status", .string(AIStatus.requested.rawValue)),
            ("requestedBy", .string(user)), ("requestedAt", .string(Timestamp.string(now))),
        ]
        if let tone { pairs.append(("tone", .string(tone))) }
        if let language { pairs.append(("language", .string(language))) }
        if let platform { pairs.append(("platform", .string(platform.rawValue))) }
        if lowPriority { pairs.append(("priority", .string("low"))) }
        try edit(doc) { try aiMap.set(id, .object(pairs)) }
        return id
    }

    /// The requests, oldest first.
    public var aiRequests: [AIRequest] {
        aiMap.keys.compactMap(aiRequest).sorted { ($0.requestedAt, $0.id) < ($1.requestedAt, $1.id) }
    }

    /// One request.
    public func aiRequest(_ id: String) -> AIRequest? {
        guard let o = aiMap.get(id) as YAny? else { return nil }
        var flags: [String] = []
        if case .array(let items)? = o["flags"] { flags = items.compactMap(\.stringValue) }
        return AIRequest(
            id: id, kind: o.string("kind") ?? "", prompt: o.string("prompt") ?? "", status: o.string("status") ?? "",
            requestedBy: o.string("requestedBy") ?? "", requestedAt: o.string("requestedAt") ?? "", tone: o.string("tone"),
            language: o.string("language"), platform: o.string("platform"), priority: o.string("priority"), result: o.string("result"), error: o.string("error"),
            flags: flags, model: o.string("model"), note: o.string("note"))
    }

    /// Writes the server's outcome into a request, keeping what the client
    /// wrote. Writing what is already there changes nothing (no update), so a
    /// job run again after a crash leaves no trace. Returns whether it wrote.
    @discardableResult
    public func recordAIOutcome(_ id: String, _ outcome: AIOutcome) throws(ModelError) -> Bool {
        guard let current = aiRequest(id) else { throw .unknownAIRequest(id) }
        var next = current
        next.status = outcome.status.rawValue
        next.result = outcome.result
        next.error = outcome.error
        next.flags = outcome.flags
        next.model = outcome.model
        next.note = outcome.note
        guard next != current else { return false }
        try edit(doc) { try aiMap.set(id, Self.encode(next)) }
        return true
    }

    /// Applies a ready suggestion to the draft and marks the request
    /// accepted, in one edit.
    public func acceptAI(_ id: String) throws(ModelError) {
        guard var r = aiRequest(id) else { throw .unknownAIRequest(id) }
        guard r.aiStatus == .ready, let text = r.result else {
            throw .invalidText("request \(id) is \(r.status): only a ready suggestion can be accepted")
        }
        let kind = AIKind(rawValue: r.kind) ?? .caption
        let tags = kind.replacesCaption ? [] : Self.hashtags(in: text)
        let clean = try tags.map { t throws(ModelError) in try Self.validHashtag(t) }
        r.status = AIStatus.accepted.rawValue
        try edit(doc) {
            if kind.replacesCaption {
                if caption.length > 0 { try caption.delete(0, count: caption.length) }
                if !text.isEmpty { try caption.insert(0, text) }
            } else {
                let existing = Set(hashtags)
                var seen = Set<String>()
                let new = clean.filter { !existing.contains($0) && seen.insert($0).inserted }
                if !new.isEmpty { try hashtagList.push(new.map { .value(.string($0)) }) }
            }
            try aiMap.set(id, Self.encode(r))
        }
    }

    /// Marks a request rejected (its suggestion stays readable).
    public func rejectAI(_ id: String) throws(ModelError) {
        guard var r = aiRequest(id) else { throw .unknownAIRequest(id) }
        guard r.aiStatus != .accepted else { throw .invalidText("request \(id) was accepted already") }
        r.status = AIStatus.rejected.rawValue
        try edit(doc) { try aiMap.set(id, Self.encode(r)) }
    }

    /// The hashtags in a text: words after `#`, or, when there is none, every word.
    public static func hashtags(in text: String) -> [String] {
        let words = text.split(whereSeparator: { $0.isWhitespace || $0 == "," })
        let marked = words.filter { $0.hasPrefix("#") }
        return (marked.isEmpty ? words : marked).map { w in
            String(w.drop(while: { $0 == "#" }).filter { $0.isLetter || $0.isNumber || $0 == "_" })
        }.filter { !$0.isEmpty && $0.count <= 100 }
    }

    static func encode(_ r: AIRequest) -> YAny {
        var pairs: [(String, YAny)] = [
            ("kind", .string(r.kind)), ("prompt", .string(r.prompt)), ("status", .string(r.status)),
            ("requestedBy", .string(r.requestedBy)), ("requestedAt", .string(r.requestedAt)),
        ]
        for (key, value) in [("tone", r.tone), ("language", r.language), ("platform", r.platform), ("priority", r.priority), ("result", r.result),
                             ("error", r.error), ("model", r.model), ("note", r.note)] {
            if let value { pairs.append((key, .string(value))) }
        }
        if !r.flags.isEmpty { pairs.append(("flags", .array(r.flags.map { .string($0) }))) }
        return .object(pairs)
    }
}
