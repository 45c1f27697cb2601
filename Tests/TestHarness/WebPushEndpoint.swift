import Foundation
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

    /// Starts the endpoint with `NEST_TEST_PYTHON` (scripts/test's environment with http_ece, cryptography and PyJWT) or `python3`.
    public init() throws {
        let python = ProcessInfo.processInfo.environment["NEST_TEST_PYTHON"] ?? "python3"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fakes/webpush_endpoint.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        process = p
        let line = out.fileHandleForReading.readLine()
        guard let line, let hello = try? JSONDecoder().decode(Hello.self, from: Data(line.utf8)) else {
            p.terminate()
            let why = String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
            throw WebPushEndpointError(description: "the Web Push endpoint did not start (needs http_ece, cryptography, PyJWT): \(why)")
        }
        port = hello.port
        subscriptions = hello.subscriptions
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

extension FileHandle {
    /// Reads up to the first newline (blocking), without it.
    func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            let chunk = readData(ofLength: 1)
            guard let b = chunk.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if b == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(b)
        }
    }
}
