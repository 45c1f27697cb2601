import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NIOFoundationCompat
import Synchronization

/// A local ntfy server for tests, taking ntfy's JSON publishing (`POST /`
/// with `topic`, `title`, `message`, `priority`, `tags`). It checks the
/// request (JSON, a topic, a message, a priority 1–5, tags as strings, the
/// expected auth) and answers 200 with ntfy's JSON, or 503 while down.
public final class FakeNtfy: Sendable {
    /// A message as received.
    public struct Message: Sendable, Equatable {
        public var topic: String
        public var title: String
        public var body: String
        public var priority: String
        public var tags: String
        public var authorization: String?
        /// When it arrived (for latency measurements).
        public var receivedAt: ContinuousClock.Instant
    }

    private let received = Mutex<[Message]>([])
    private let refused = Mutex<Int>(0)
    private let problems = Mutex<[String]>([])
    private let isDown = Mutex(false)
    private let boundPort = Mutex(0)
    private let stopper = Mutex<(@Sendable () -> Void)?>(nil)
    /// The `Authorization` header every request must carry, if any.
    public let expectedAuthorization: String?

    public init(expectedAuthorization: String? = nil) { self.expectedAuthorization = expectedAuthorization }

    public var port: Int { boundPort.withLock { $0 } }
    public func topicURL(_ topic: String) -> String { "http://127.0.0.1:\(port)/\(topic)" }
    public var messages: [Message] { received.withLock { $0 } }
    public var violations: [String] { problems.withLock { $0 } }
    /// Requests answered 503 while down.
    public var refusedWhileDown: Int { refused.withLock { $0 } }
    public func messages(topic: String) -> [Message] { messages.filter { $0.topic == topic } }

    /// While true, every publish is answered 503 (the server is down).
    public func setDown(_ down: Bool) { isDown.withLock { $0 = down } }

    public func start() async throws {
        let router = Router()
        // ntfy's JSON publishing: `POST /` with the topic in the body.
        router.post("/") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 10)
            if self.isDown.withLock({ $0 }) {
                self.refused.withLock { $0 += 1 }
                return Response(status: .serviceUnavailable)
            }
            var wrong: [String] = []
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
            let topic = json["topic"] as? String ?? ""
            if topic.isEmpty { wrong.append("no topic") }
            if request.headers[.contentType]?.hasPrefix("application/json") != true { wrong.append("Content-Type is not JSON") }
            let priority = json["priority"] as? Int ?? 0
            if !(1...5).contains(priority) { wrong.append("priority \(priority) is not 1-5") }
            if (json["message"] as? String ?? "").isEmpty { wrong.append("empty message") }
            if let tags = json["tags"], !(tags is [String]) { wrong.append("tags must be a list of strings") }
            if let expected = self.expectedAuthorization, request.headers[.authorization] != expected {
                wrong.append("Authorization is \(request.headers[.authorization] ?? "missing")")
            }
            if !wrong.isEmpty {
                self.problems.withLock { $0 += wrong }
                return Response(status: .badRequest)
            }
            let message = Message(topic: topic, title: json["title"] as? String ?? "", body: json["message"] as? String ?? "", priority: String(priority),
                                  tags: (json["tags"] as? [String] ?? []).joined(separator: ","), authorization: request.headers[.authorization],
                                  receivedAt: .now)
            let count = self.received.withLock { list -> Int in
                list.append(message)
                return list.count
            }
            let answer = #"{"id":"m\#(count)","time":\#(Int(Date().timeIntervalSince1970)),"event":"message","topic":"\#(topic)"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        let server = try await LocalServer.start(router, label: "fake-ntfy")
        boundPort.withLock { $0 = server.port }
        stopper.withLock { $0 = { server.stop() } }
    }

    public func stop() { stopper.withLock { $0?() } }
}
