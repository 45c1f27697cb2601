public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where AI requests go: any OpenAI-compatible chat-completions API
/// (OpenAI, DeepSeek, a local llama.cpp or Ollama server).
public struct AIProviderConfiguration: Sendable {
    /// Base URL, usually ending in `/v1` (`NEST_AI_BASE_URL`); requests go to `{base}/chat/completions`.
    public var baseURL: String
    /// Sent as `Authorization: Bearer` when set (`NEST_AI_API_KEY`).
    public var apiKey: String?
    /// `NEST_AI_MODEL`.
    public var model: String
    /// Connecting may take this long. Default 5 s.
    public var connectTimeout: Duration = .seconds(5)
    /// Longest silence while reading an answer (keep-alive comments count). Default 60 s.
    public var readTimeout: Duration = .seconds(60)
    /// Longest a whole answer may take. Default 5 minutes.
    public var totalTimeout: Duration = .seconds(300)
    /// Default 0.7.
    public var temperature = 0.7
    /// Most tokens an answer may have. Default 400.
    public var maxTokens = 400
    /// Shown with every suggestion (the embedded small local model says so).
    public var note: String?

    public init(baseURL: String, apiKey: String?, model: String) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model
    }
}

/// One message of a chat.
public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Tokens an answer cost.
public struct ChatUsage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens served from the provider's cache (DeepSeek's `prompt_cache_hit_tokens`).
    public var cacheHitTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cacheHitTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cacheHitTokens = cacheHitTokens
    }

    static func + (a: ChatUsage, b: ChatUsage) -> ChatUsage {
        ChatUsage(promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens,
                  cacheHitTokens: a.cacheHitTokens + b.cacheHitTokens)
    }
}

/// A whole answer.
public struct ChatCompletion: Sendable, Equatable {
    public var text: String
    /// `stop`, `length`, `content_filter`, ...; nil when the stream did not say.
    public var finishReason: String?
    public var usage: ChatUsage?
}

/// Why the provider gave no answer.
public struct AIProviderError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// 401: the API key is wrong. Not retried.
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// 402: the account has no balance left. Not retried.
        public static let insufficientBalance = Code(rawValue: "insufficient_balance")
        /// 429 with a quota used up (not a rate). Not retried.
        public static let quotaExhausted = Code(rawValue: "quota_exhausted")
        /// 429: too many requests; retried after `retryAfter`.
        public static let rateLimited = Code(rawValue: "rate_limited")
        /// 5xx: retried.
        public static let unavailable = Code(rawValue: "unavailable")
        /// Another 4xx: the request was refused. Not retried.
        public static let refused = Code(rawValue: "refused")
        /// No connection, or silence past the read timeout: retried.
        public static let transport = Code(rawValue: "transport")
        /// The answer was not what the contract says: retried.
        public static let malformed = Code(rawValue: "malformed")
    }

    public var code: Code
    public var status: Int?
    /// The provider's message (never the key or the prompt).
    public var message: String
    public var retryAfter: Duration?

    /// Whether another attempt may get an answer.
    public var isRetryable: Bool { [.rateLimited, .unavailable, .transport, .malformed].contains(code) }

    public var description: String {
        let status = self.status.map { " (HTTP \($0))" } ?? ""
        switch code {
        case .unauthorized: return "the AI provider refused the API key\(status): \(message)"
        case .insufficientBalance: return "the AI provider account has no balance left\(status): \(message)"
        case .quotaExhausted: return "the AI provider quota is used up\(status): \(message)"
        default: return "AI provider \(code.rawValue)\(status): \(message)"
        }
    }
}

/// An OpenAI-compatible chat-completions client that streams: the text is
/// handed out as it arrives, the usage comes from the final chunk.
public final class ChatCompletionsClient: Sendable {
    public let configuration: AIProviderConfiguration
    private let http: HTTPClient

    /// - Parameter http: a client whose timeouts were made with
    ///   ``httpConfiguration(for:)``; the caller shuts it down.
    public init(configuration: AIProviderConfiguration, http: HTTPClient) {
        self.configuration = configuration
        self.http = http
    }

    /// An HTTP client configuration with the provider's connect and read timeouts.
    public static func httpConfiguration(for c: AIProviderConfiguration) -> HTTPClient.Configuration {
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .milliseconds(c.connectTimeout.milliseconds), read: .milliseconds(c.readTimeout.milliseconds))
        config.redirectConfiguration = .disallow
        return config
    }

    private struct Body: Encodable {
        struct StreamOptions: Encodable {
            var include_usage = true
        }
        var model: String
        var messages: [ChatMessage]
        var temperature: Double
        var max_tokens: Int
        var stream = true
        var stream_options = StreamOptions()
    }

    /// Asks for an answer to `messages`, streaming; `onText` gets the whole text so far after each chunk.
    public func complete(_ messages: [ChatMessage], onText: @Sendable (String) async -> Void) async throws(AIProviderError) -> ChatCompletion {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var request = HTTPClientRequest(url: base + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let key = configuration.apiKey, !key.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        let body = Body(model: configuration.model, messages: messages, temperature: configuration.temperature, max_tokens: configuration.maxTokens)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let json = try? encoder.encode(body) else { throw AIProviderError(code: .refused, message: "the request does not encode") }
        request.body = .bytes(ByteBuffer(bytes: json))

        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .milliseconds(configuration.totalTimeout.milliseconds))
        } catch {
            throw AIProviderError(code: .transport, message: "\(error)")
        }
        guard response.status == .ok else {
            var bytes = ByteBuffer()
            do {
                bytes = try await response.body.collect(upTo: 64 << 10)
            } catch {}
            throw Self.error(status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
        }
        var parser = ServerSentEventParser()
        var stream = ChatStream()
        do {
            for try await chunk in response.body {
                for event in parser.feed(chunk.readableBytesView) {
                    if try stream.take(event) { await onText(stream.text) }
                }
            }
            for event in parser.finish() {
                if try stream.take(event) { await onText(stream.text) }
            }
        } catch let e as AIProviderError {
            throw e
        } catch {
            throw AIProviderError(code: .transport, message: "the answer stopped: \(error)")
        }
        guard stream.done || stream.finishReason != nil else {
            throw AIProviderError(code: .malformed, message: "the stream ended without a finish reason or [DONE]")
        }
        return ChatCompletion(text: stream.text, finishReason: stream.finishReason, usage: stream.usage)
    }

    /// The error an HTTP answer other than 200 means.
    static func error(status: Int, headers: HTTPHeaders, body: [UInt8]) -> AIProviderError {
        struct Envelope: Decodable {
            struct Inner: Decodable {
                var message: String?
                var type: String?
                var code: String?
            }
            var error: Inner?
        }
        let inner = (try? JSONDecoder().decode(Envelope.self, from: Data(body)))?.error
        let message = inner?.message ?? String(decoding: body.prefix(200), as: UTF8.self)
        let retryAfter = RetryAfter.parse(headers)
        switch status {
        case 401, 403: return AIProviderError(code: .unauthorized, status: status, message: message)
        case 402: return AIProviderError(code: .insufficientBalance, status: status, message: message)
        case 429:
            let quota = [inner?.code, inner?.type].contains { $0 == "insufficient_quota" }
            return AIProviderError(code: quota ? .quotaExhausted : .rateLimited, status: status, message: message, retryAfter: retryAfter)
        case 500...599: return AIProviderError(code: .unavailable, status: status, message: message, retryAfter: retryAfter)
        default: return AIProviderError(code: .refused, status: status, message: message)
        }
    }
}

/// The chunks of one streamed answer, put together.
struct ChatStream {
    private(set) var text = ""
    private(set) var finishReason: String?
    private(set) var usage: ChatUsage?
    private(set) var done = false

    private struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable {
                var content: String?
            }
            var delta: Delta?
            var finish_reason: String?
        }
        struct Usage: Decodable {
            var prompt_tokens: Int?
            var completion_tokens: Int?
            var prompt_cache_hit_tokens: Int?
            struct Details: Decodable {
                var cached_tokens: Int?
            }
            var prompt_tokens_details: Details?
        }
        var choices: [Choice]?
        var usage: Usage?
    }

    /// Takes one event's data; returns whether the text grew.
    mutating func take(_ data: String) throws(AIProviderError) -> Bool {
        if data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
            done = true
            return false
        }
        let chunk: Chunk
        do { chunk = try JSONDecoder().decode(Chunk.self, from: Data(data.utf8)) } catch {
            throw AIProviderError(code: .malformed, message: "a chunk is not JSON: \(data.prefix(120))")
        }
        var grew = false
        for choice in chunk.choices ?? [] {
            if let piece = choice.delta?.content, !piece.isEmpty {
                text += piece
                grew = true
            }
            if let reason = choice.finish_reason { finishReason = reason }
        }
        if let u = chunk.usage {
            usage = ChatUsage(promptTokens: u.prompt_tokens ?? 0, completionTokens: u.completion_tokens ?? 0,
                              cacheHitTokens: u.prompt_cache_hit_tokens ?? u.prompt_tokens_details?.cached_tokens ?? 0)
        }
        return grew
    }
}

/// The wait a 429 or 503 names: `Retry-After` (seconds or an HTTP date), or
/// OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`1s`, `6m0s`, `250ms`).
enum RetryAfter {
    static func parse(_ headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        if let value = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = f.date(from: value) { return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000))) }
        }
        let resets = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"].compactMap { headers.first(name: $0).flatMap(goDuration) }
        return resets.max()
    }

    /// `1h2m3.5s`, `250ms`, `6m0s`.
    static func goDuration(_ text: String) -> Duration? {
        var total = 0.0
        var number = ""
        var unit = ""
        var any = false
        func flush() -> Bool {
            guard let n = Double(number) else { return false }
            switch unit {
            case "h": total += n * 3_600_000
            case "m": total += n * 60_000
            case "s": total += n * 1000
            case "ms": total += n
            default: return false
            }
            number = ""
            unit = ""
            any = true
            return true
        }
        for c in text {
            if c.isNumber || c == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(c)
            } else {
                unit.append(c)
            }
        }
        if !number.isEmpty { guard flush() else { return nil } }
        return any ? .milliseconds(Int64(total)) : nil
    }
}
