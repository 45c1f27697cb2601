import ArgumentParser
import Foundation
import Synchronization

/// The `nest-server` process `nest demo` runs: the binary built beside `nest`
/// (or `NEST_SERVER_BIN`), on a free loopback port, with its own data
/// directory and a fresh secret, driven through its admin commands as an
/// operator would. `nest` itself links no server code.
final class DemoServer: Sendable {
    let binary: String
    let dataDirectory: String
    let port: Int
    private let process: Process
    private let secret: String

    /// Where `nest-server` is: `NEST_SERVER_BIN`, else beside this executable, else on `PATH`.
    static func locate() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["NEST_SERVER_BIN"], !path.isEmpty { return path }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let beside = own.appendingPathComponent("nest-server").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/nest-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ValidationError("nest demo runs a nest-server process and found none beside \(own.path) or on PATH; build it (swift build --product nest-server) or set NEST_SERVER_BIN")
    }

    /// Grants the memberships (each `nest-server token issue` also prints a token), then starts `serve`.
    static func start(dataDirectory: String, members: [(user: String, workspace: String, role: String)]) async throws -> (DemoServer, [String: String]) {
        let binary = try locate()
        let secret = (0..<48).map { _ in String("abcdefghijklmnopqrstuvwxyz0123456789".randomElement() ?? "x") }.joined()
        var tokens: [String: String] = [:]
        for m in members {
            let out = try await run(binary, ["token", "issue", "--user", m.user, "--workspace", m.workspace, "--role", m.role, "--ttl", "1h"],
                                    dataDirectory: dataDirectory, secret: secret)
            tokens[m.user] = out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--port", "0"]
        p.environment = environment(dataDirectory: dataDirectory, secret: secret)
        let out = Pipe()
        p.standardOutput = out
        let logPath = (dataDirectory as NSString).appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
        let lines = LineReader(out.fileHandleForReading)
        try p.run()
        guard let port = await lines.port(within: .seconds(30)) else {
            p.terminate()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw ValidationError("nest-server did not start: \(log.suffix(2_000))")
        }
        return (DemoServer(binary: binary, dataDirectory: dataDirectory, port: port, process: p, secret: secret), tokens)
    }

    private init(binary: String, dataDirectory: String, port: Int, process: Process, secret: String) {
        self.binary = binary
        self.dataDirectory = dataDirectory
        self.port = port
        self.process = process
        self.secret = secret
    }

    /// SIGTERM, then waits for the graceful shutdown to finish (without holding a thread of the pool).
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// The server's environment: its data, its secret, and the AI provider the caller's environment names.
    private static func environment(dataDirectory: String, secret: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["NEST_DATA_DIR"] = dataDirectory
        env["NEST_JWT_SECRET"] = secret
        env["NEST_LOG_LEVEL"] = env["NEST_LOG_LEVEL"] ?? "warning"
        env.removeValue(forKey: "DATABASE_URL")
        if env["NEST_AI_BASE_URL"]?.isEmpty == false { env["NEST_AI_MAX_TOKENS"] = env["NEST_AI_MAX_TOKENS"] ?? "120" }
        return env
    }

    /// Runs an admin command to its end; its standard output, or an error with what it said.
    private static func run(_ binary: String, _ args: [String], dataDirectory: String, secret: String) async throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.environment = environment(dataDirectory: dataDirectory, secret: secret)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let said = LineReader(out.fileHandleForReading), complained = LineReader(err.fileHandleForReading)
        try p.run()
        while p.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let text = await said.all(), problem = await complained.all()
        guard p.terminationStatus == 0 else { throw ValidationError("nest-server \(args.prefix(2).joined(separator: " ")) failed: \(problem)") }
        return text
    }
}

/// Collects a pipe's output on a thread of its own, so the child never blocks on a full pipe.
private final class LineReader: Sendable {
    private let text = Mutex("")
    private let ended = Mutex(false)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
            ended.withLock { $0 = true }
        }
    }

    /// The port of the server's "listening on HOST:PORT" line.
    func port(within limit: Duration) async -> Int? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let said = text.withLock { $0 }
            if let range = said.range(of: #"listening on [0-9.]+:[0-9]+"#, options: .regularExpression) {
                return Int(said[range].split(separator: ":").last ?? "")
            }
            if ended.withLock({ $0 }) { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Everything, once the pipe has closed.
    func all() async -> String {
        while !ended.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
        return text.withLock { $0 }
    }
}
