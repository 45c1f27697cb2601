import Testing
import AsyncHTTPClient
import Foundation
import Synchronization
import SyncServer
import TestHarness

/// The chat-completions client against a local provider that checks the
/// contract byte for byte and answers on script.
@Suite("Chat completions client")
struct ChatCompletionsClientTests {
    static func withClient(_ body: (FakeChatProvider, ChatCompletionsClient) async throws -> Void) async throws {
        let fake = FakeChatProvider()
        try await fake.start()
        var config = AIProviderConfiguration(baseURL: fake.baseURL + "/", apiKey: fake.apiKey, model: fake.model)
        // Generous: the whole suite starts at once on two cores; no test here waits for this timeout to fire.
        config.readTimeout = .seconds(20)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: ChatCompletionsClient.httpConfiguration(for: config))
        do {
            try await body(fake, ChatCompletionsClient(configuration: config, http: http))
        } catch {
            try await http.shutdown()
            fake.stop()
            throw error
        }
        try await http.shutdown()
        fake.stop()
        #expect(fake.violations.isEmpty, "\(fake.violations)")
    }

    static let messages = [ChatMessage(role: "system", content: "You write captions."), ChatMessage(role: "user", content: "A caption for café ☕️ night")]

    @Test("a streamed answer arrives whole, with its usage, the text growing as it comes")
    func streamed() async throws {
        try await Self.withClient { fake, client in
            let text = "Join us for café night ☕️ — live jazz, cosy corners and the best flat white in town. #CafeNight #Jazz"
            fake.enqueue(.stream(text: text, promptTokens: 120, completionTokens: 33, cacheHit: 64))
            let seen = Mutex<[String]>([])
            let answer = try await client.complete(Self.messages) { partial in seen.withLock { $0.append(partial) } }
            #expect(answer.text == text, "split seed \(fake.splitSeed)")
            #expect(answer.finishReason == "stop")
            #expect(answer.usage == ChatUsage(promptTokens: 120, completionTokens: 33, cacheHitTokens: 64))
            let partials = seen.withLock { $0 }
            #expect(partials.count > 5 && partials.last == text)
            for (a, b) in zip(partials, partials.dropFirst()) { #expect(b.hasPrefix(a) && b.count > a.count) }
            let sent = try #require(fake.requests.first)
            #expect(sent.messages.map(\.role) == ["system", "user"] && sent.messages[1].content == Self.messages[1].content)
        }
    }

    @Test("a cut-off answer reports finish_reason length")
    func cutOff() async throws {
        try await Self.withClient { fake, client in
            fake.enqueue(.stream(text: "Half a sent", finishReason: "length"))
            let answer = try await client.complete(Self.messages) { _ in }
            #expect(answer.finishReason == "length" && answer.text == "Half a sent")
        }
    }

    @Test("every documented error maps to its code, retryable or not, with the wait the provider names")
    func errors() async throws {
        try await Self.withClient { fake, client in
            let cases: [(FakeChatProvider.Answer, AIProviderError.Code, Bool, Duration?)] = [
                (.error(status: 401, code: "authentication_error", message: "bad key"), .unauthorized, false, nil),
                (.error(status: 402, code: "insufficient_balance", message: "Insufficient Balance"), .insufficientBalance, false, nil),
                (.error(status: 429, code: "rate_limit_exceeded", message: "slow down", headers: ["Retry-After": "7"]), .rateLimited, true, .seconds(7)),
                (.error(status: 429, code: "rate_limit_exceeded", message: "slow down", headers: ["x-ratelimit-reset-requests": "1m30s"]),
                 .rateLimited, true, .seconds(90)),
                (.error(status: 429, code: "insufficient_quota", message: "quota"), .quotaExhausted, false, nil),
                (.error(status: 500, code: "server_error", message: "oops"), .unavailable, true, nil),
                (.error(status: 503, code: "overloaded", message: "busy", headers: ["Retry-After": "2"]), .unavailable, true, .seconds(2)),
                (.error(status: 400, code: "invalid_request_error", message: "context too long"), .refused, false, nil),
            ]
            for (answer, code, retryable, wait) in cases {
                fake.enqueue(answer)
                do throws(AIProviderError) {
                    _ = try await client.complete(Self.messages) { _ in }
                    Issue.record("\(code.rawValue): no error")
                } catch {
                    #expect(error.code == code, "\(error)")
                    #expect(error.isRetryable == retryable, "\(code.rawValue)")
                    #expect(error.retryAfter == wait, "\(code.rawValue): \(String(describing: error.retryAfter))")
                    #expect(!error.description.contains(fake.apiKey))
                }
            }
        }
    }

    @Test("a provider that is not there is a retryable transport error")
    func unreachable() async throws {
        var config = AIProviderConfiguration(baseURL: "http://127.0.0.1:1/v1", apiKey: "k", model: "m")
        config.connectTimeout = .seconds(2)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: ChatCompletionsClient.httpConfiguration(for: config))
        do throws(AIProviderError) {
            _ = try await ChatCompletionsClient(configuration: config, http: http).complete(Self.messages) { _ in }
            Issue.record("answered from a closed port")
        } catch {
            #expect(error.code == .transport && error.isRetryable)
        }
        try await http.shutdown()
    }
}
