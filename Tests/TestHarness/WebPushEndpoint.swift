import Foundation
import TestBasics
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Web Push endpoint of `Tests/Fakes/webpush_endpoint.py`: a push
/// service whose bodies are decrypted by Python's `http_ece` and whose VAPID
/// tokens are verified by PyJWT, not by our code. Subscriptions: `ok`, `ok2`
/// (201), `gone` (410), `flaky` (503 twice), `limited` (429 once), `big` (413).
public final class WebPushEndpoint: @unchecked Sendable {
    /// A subscription as a browser would hand it over.
    public struct Subscription: Sendable, Decodable {
        public var endpoint: String
        public var p256dh: String
        public var auth: String
    }

    /// One request the endpoint saw.
    public struct Received: Sendable, Decodable {
        public var sub: String
        public var status: Int
        /// The decrypted body, when it could be decrypted.
        public var plaintext: String?
        public var problems: [String]
        public var urgency: String?
        public var ttl: String?
        public var topic: String?
        public var bytes: Int
    }

    private struct Hello: Decodable {
        var port: Int
        var subscriptions: [String: Subscription]
    }

    private let process: Process
    public let port: Int
    public let subscriptions: [String: Subscription]

    private init(process: Process, port: Int, subscriptions: [String: Subscription]) {
        self.process = process
        self.port = port
        self.subscriptions = subscriptions
    }

    /// Starts the endpoint with `NEST_TEST_PYTHON` (scripts/test's environment with http_ece, cryptography and PyJWT) or
    /// `python3`, and waits for its first line without blocking a thread of the concurrency pool (Python can take
    /// seconds to start on a loaded machine, and the pool has one thread per core).
    public static func start() async throws -> WebPushEndpoint {
        let python = ProcessInfo.processInfo.environment["NEST_TEST_PYTHON"] ?? "python3"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fakes/webpush_endpoint.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let said = DataBox.collecting(out), complained = DataBox.collecting(err)
        try p.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = String(decoding: said.get(), as: UTF8.self)
            if let line = text.split(separator: "\n", omittingEmptySubsequences: true).first, text.contains("\n") {
                guard let hello = try? JSONDecoder().decode(Hello.self, from: Data(line.utf8)) else { break }
                return WebPushEndpoint(process: p, port: hello.port, subscriptions: hello.subscriptions)
            }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        p.terminate()
        throw WebPushEndpointError(description: "the Web Push endpoint did not start (needs http_ece, cryptography, PyJWT): "
            + String(decoding: complained.get(), as: UTF8.self))
    }

    deinit { stop() }

    public func stop() {
        if process.isRunning { process.terminate() }
    }

    /// Every request so far.
    public func log() async throws -> [Received] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/log")!)
        return try JSONDecoder().decode([Received].self, from: data)
    }
}

public struct WebPushEndpointError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

