public import Foundation
import TestBasics

/// A real `nest-server` process on loopback with its own SQLite file (or
/// PostgreSQL when `databaseURL` is set), for end-to-end tests.
public final class ServerProcess: @unchecked Sendable {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let binary = root.appendingPathComponent(".build/debug/nest-server").path
    public static let secret = "e2e-secret-0123456789abcdef0123456789"

    public let dataDir: String
    /// PostgreSQL URL; nil for the embedded SQLite store.
    public var databaseURL: String?
    /// Extra environment for `serve` (limits under test).
    public var serveEnvironment: [String: String] = [:]
    /// Extra environment for the y-websocket peers script (e.g. `YWS_TEXT`).
    public var peerEnvironment: [String: String] = [:]
    public private(set) var process: Process?
    public private(set) var port = 0

    public init() throws {
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
    }

    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["NEST_JWT_SECRET"] = Self.secret
        env["NEST_DATA_DIR"] = dataDir
        env["NEST_LOG_LEVEL"] = "warning"
        env.removeValue(forKey: "DATABASE_URL")
        if let databaseURL { env["DATABASE_URL"] = databaseURL }
        return env
    }

    /// Runs an admin command and returns its output. Async, like every wait
    /// of the harness: tests run side by side on the concurrency pool's few
    /// threads, and a test blocking one of them slows all the others.
    public func admin(_ args: [String], secret: String? = nil) async throws -> String {
        var env = environment
        if let secret { env["NEST_JWT_SECRET"] = secret }
        let run = try await ProcessRunner.run(Self.binary, args, environment: env)
        guard run.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: (run.out + run.err).trimmingCharacters(in: .whitespacesAndNewlines)])
        }
        return run.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func token(_ user: String, workspace: String? = nil, role: String = "editor", ttl: String = "1h") async throws -> String {
        var args = ["token", "issue", "--user", user, "--role", role, "--ttl", ttl]
        if let workspace { args += ["--workspace", workspace] }
        return try await admin(args)
    }

    /// Starts `serve` on a free port and waits for its "listening" line.
    public func start(port requested: Int = 0) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--port", String(requested)]
        p.environment = environment.merging(serveEnvironment) { _, b in b }
        let out = Pipe()
        p.standardOutput = out
        // Kept for post-mortems: a failing test can show what the server said (`logTail`).
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        p.standardError = log ?? FileHandle.nullDevice
        // Read to the end on a thread of its own, so that the server never blocks on a full pipe.
        let said = DataBox.collecting(out)
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        var text = ""
        while Date() < deadline {
            text = String(decoding: said.get(), as: UTF8.self)
            if let range = text.range(of: #"listening on [0-9.]+:([0-9]+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                return
            }
            if said.done { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "server did not start: \(text)"])
    }

    /// Where the server's log (stderr) goes, across restarts.
    public var logPath: String { dataDir + "/server.log" }

    /// The end of the server's log, for failure messages.
    public func logTail(_ characters: Int = 3_000) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return String(text.suffix(characters))
    }

    /// SIGKILL: no chance to flush anything.
    public func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    public func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    deinit { if let p = process, p.isRunning { kill(p.processIdentifier, SIGKILL) } }

    /// Runs the stock y-websocket peers script; returns its JSON line.
    public func peers(_ args: [String]) async throws -> [String: Any] {
        try await node("yws-peers.cjs", [args[0], "ws://127.0.0.1:\(port)/v1/yjs"] + args.dropFirst())
    }

    /// Runs a script of `Tests/Conformance` with node; returns its last line as JSON.
    /// Async: a test waiting on a peer script must not hold a thread of the
    /// concurrency pool (tests that did starved the clients of other tests).
    public func node(_ script: String, _ args: [String]) async throws -> [String: Any] {
        var env = ProcessInfo.processInfo.environment
        env["NODE_PATH"] = "/usr/share/nodejs"
        let run = try await ProcessRunner.run(
            "/usr/bin/env", ["node", Self.root.appendingPathComponent("Tests/Conformance/\(script)").path] + args,
            environment: env.merging(peerEnvironment) { _, b in b })
        let line = run.out.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? ["ok": false, "error": "no output: \(line)"]
    }
}

