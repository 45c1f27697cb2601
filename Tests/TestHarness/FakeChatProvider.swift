import Foundation
import TestBasics
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// A local server that plays an OpenAI-compatible chat-completions API for
/// tests: it checks every request against the contract (method, path,
/// headers, JSON body fields) and answers from a script: streamed answers
/// with chunks split anywhere, keep-alive comments and blank lines, a usage
/// chunk and `[DONE]`; or an error status with the provider's error body
/// and headers. Requests it found wrong are answered 400 and kept in
/// ``violations`` for the test to fail on.
public final class FakeChatProvider: Sendable {
    /// One scripted answer.
    public enum Answer: Sendable {
        /// A streamed answer of `text`, cut into `pieces` parts per chunk's
        /// delta, each event split across writes at random byte positions.
        case stream(text: String, finishReason: String = "stop", promptTokens: Int = 42, completionTokens: Int = 17, cacheHit: Int = 0,
                    pieceDelay: Duration = .milliseconds(2))
        /// An error status with the contract's error body and extra headers.
        case error(status: Int, code: String, message: String, headers: [String: String] = [:])
    }

    /// A request as received.
    public struct Received: Sendable {
        public var body: [String: any Sendable]
        public var messages: [(role: String, content: String)]
        public var at: ContinuousClock.Instant
    }

    public let apiKey: String
    public let model: String
    private let script = Mutex<[Answer]>([])
    /// What to answer when the script is used up.
    private let fallback = Mutex<Answer?>(nil)
    private let received = Mutex<[Received]>([])
    private let problems = Mutex<[String]>([])
    /// When each streamed answer's last byte was written.
    private let finishedAt = Mutex<[ContinuousClock.Instant]>([])
    private let seed: UInt64
    private let boundPort = Mutex(0)
    public var port: Int { boundPort.withLock { $0 } }
    private let stopper = Mutex<(@Sendable () -> Void)?>(nil)

    public init(apiKey: String = "test-key-123", model: String = "fake-model", seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.apiKey = apiKey
        self.model = model
        self.seed = seed
    }

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    public var violations: [String] { problems.withLock { $0 } }
    public var requests: [Received] { received.withLock { $0 } }
    public var streamsFinished: [ContinuousClock.Instant] { finishedAt.withLock { $0 } }
    /// The seed of the random chunk splits (printed by tests on failure).
    public var splitSeed: UInt64 { seed }

    /// Queues answers, given in order to the next requests.
    public func enqueue(_ answers: Answer...) { script.withLock { $0 += answers } }
    /// What every request gets once the script is used up.
    public func answerAlways(_ answer: Answer) { fallback.withLock { $0 = answer } }

    /// Starts listening on a free port of 127.0.0.1 (returns once it does).
    public func start() async throws {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return self.answer(request, body: Array(buffer: body))
        }
        router.post("/**") { request, _ -> Response in
            self.problems.withLock { $0.append("unexpected path \(request.uri.path)") }
            return Response(status: .notFound)
        }
        let server = try await LocalServer.start(router, label: "fake-chat")
        boundPort.withLock { $0 = server.port }
        stopper.withLock { $0 = { server.stop() } }
    }

    public func stop() { stopper.withLock { $0?() } }

    private func answer(_ request: Request, body: [UInt8]) -> Response {
        var wrong: [String] = []
        if request.headers[.authorization] != "Bearer \(apiKey)" { wrong.append("Authorization is \(request.headers[.authorization] ?? "missing")") }
        if request.headers[.contentType]?.hasPrefix("application/json") != true { wrong.append("Content-Type is \(request.headers[.contentType] ?? "missing")") }
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        if json.isEmpty { wrong.append("the body is not a JSON object") }
        if json["model"] as? String != model { wrong.append("model is \(json["model"] ?? "missing"), expected \(model)") }
        if json["stream"] as? Bool != true { wrong.append("stream is not true") }
        if (json["stream_options"] as? [String: Any])?["include_usage"] as? Bool != true { wrong.append("stream_options.include_usage is not true") }
        if !(json["temperature"] is NSNumber) { wrong.append("temperature is not a number") }
        if !(json["max_tokens"] is Int) { wrong.append("max_tokens is not an integer") }
        let rawMessages = json["messages"] as? [[String: Any]] ?? []
        let messages = rawMessages.map { (role: $0["role"] as? String ?? "", content: $0["content"] as? String ?? "") }
        if messages.isEmpty { wrong.append("no messages") }
        for m in messages where !["system", "user", "assistant"].contains(m.role) || m.content.isEmpty { wrong.append("a message is \(m)") }
        let known = Set(["model", "messages", "temperature", "max_tokens", "stream", "stream_options"])
        for key in json.keys where !known.contains(key) { wrong.append("unexpected field \(key)") }
        received.withLock { $0.append(Received(body: json.mapValues { "\($0)" }, messages: messages, at: .now)) }
        guard wrong.isEmpty else {
            problems.withLock { $0 += wrong }
            return Self.errorResponse(status: 400, code: "invalid_request_error", message: wrong.joined(separator: "; "), headers: [:])
        }
        let next = script.withLock { $0.isEmpty ? nil : $0.removeFirst() } ?? fallback.withLock { $0 }
        switch next {
        case nil:
            problems.withLock { $0.append("a request came after the script ended") }
            return Self.errorResponse(status: 500, code: "server_error", message: "no scripted answer", headers: [:])
        case .error(let status, let code, let message, let headers)?:
            return Self.errorResponse(status: status, code: code, message: message, headers: headers)
        case .stream(let text, let finish, let prompt, let completion, let cacheHit, let delay)?:
            let bytes = Self.events(text: text, finish: finish, model: model, prompt: prompt, completion: completion, cacheHit: cacheHit)
            var random = SeededRandom(seed: seed &+ UInt64(requests.count))
            var cuts: [Int] = []
            var at = 0
            while at < bytes.count {
                at += Int(random.next() % 160) + 1
                cuts.append(min(at, bytes.count))
            }
            let splits = cuts
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
                var start = 0
                for cut in splits {
                    try await writer.write(ByteBuffer(bytes: bytes[start..<cut]))
                    start = cut
                    try await Task.sleep(for: delay)
                }
                self.finishedAt.withLock { $0.append(.now) }
                try await writer.finish(nil)
            })
        }
    }

    /// The event stream of one answer: blank lines and a keep-alive comment
    /// first (as DeepSeek sends while a request waits), a role chunk, the
    /// text in pieces of a few characters, the finish chunk, the usage chunk
    /// with empty choices, `[DONE]`; lines end in LF or CRLF.
    static func events(text: String, finish: String, model: String, prompt: Int, completion: Int, cacheHit: Int) -> [UInt8] {
        func json(_ object: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) }
        var out = "\n\n: keep-alive\n\n"
        let base: [String: Any] = ["id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model]
        out += "data: " + json(base.merging(["choices": [["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]]]) { a, _ in a }) + "\r\n\r\n"
        var rest = Substring(text)
        var n = 0
        while !rest.isEmpty {
            let piece = rest.prefix(3 + n % 5)
            rest = rest.dropFirst(piece.count)
            n += 1
            out += "data: " + json(base.merging(["choices": [["index": 0, "delta": ["content": String(piece)], "finish_reason": NSNull()]]]) { a, _ in a }) + "\n\n"
            if n % 7 == 0 { out += ": keep-alive\n\n" }
        }
        out += "data: " + json(base.merging(["choices": [["index": 0, "delta": [:], "finish_reason": finish]]]) { a, _ in a }) + "\n\n"
        let usage: [String: Any] = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                                    "prompt_cache_hit_tokens": cacheHit, "prompt_cache_miss_tokens": prompt - cacheHit]
        out += "data: " + json(base.merging(["choices": [Any](), "usage": usage]) { a, _ in a }) + "\n\n"
        out += "data: [DONE]\n\n"
        return Array(out.utf8)
    }

    static func errorResponse(status: Int, code: String, message: String, headers: [String: String]) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (k, v) in headers { if let name = HTTPField.Name(k) { fields[name] = v } }
        let body = try! JSONSerialization.data(withJSONObject: ["error": ["message": message, "type": code, "code": code]], options: [.sortedKeys])
        return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
