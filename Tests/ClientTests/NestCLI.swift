import Foundation
import TestHarness
import TestBasics

/// A `nest` data directory driven through the real binary, as a user would.
struct NestCLI {
    static let binary = ServerProcess.root.appendingPathComponent(".build/debug/nest").path
    let dataDir: String

    init(_ name: String) {
        dataDir = tempDirectory("cli-\(name)")
    }

    /// Runs `nest ARGS --data-dir DIR` to the end.
    @discardableResult
    func run(_ args: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await ProcessRunner.run(Self.binary, args + ["--data-dir", dataDir], environment: nil)
    }

    /// Runs a command that must succeed; returns stdout.
    @discardableResult
    func ok(_ args: [String]) async throws -> String {
        let r = try await run(args)
        guard r.status == 0 else { throw CLIFailure(args: args, status: r.status, output: r.out + r.err) }
        return r.out
    }

    /// Runs a `--json` read command and decodes its output.
    func json(_ args: [String]) async throws -> [String: Any] {
        let out = try await ok(args + ["--json"])
        guard let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw CLIFailure(args: args, status: 0, output: "not a JSON object: \(out)")
        }
        return obj
    }

    func login(_ server: ServerProcess, token: String, workspace: String) async throws {
        try await ok(["login", "--server", "http://127.0.0.1:\(server.port)", "--token", token, "--workspace", workspace])
    }

    /// Starts a long-running command (e.g. `watch`), collecting its stdout.
    func spawn(_ args: [String]) throws -> RunningNest {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args + ["--data-dir", dataDir]
        let out = Pipe()
        // One buffer for both streams: status notes (stderr) explain a failure.
        p.standardOutput = out
        p.standardError = out
        let running = RunningNest(process: p)
        try p.run()
        PipeDrain.start(out) { running.append($0) }
        return running
    }
}

/// A `nest` process running in the background.
final class RunningNest: @unchecked Sendable {
    let process: Process
    private let lock = NSLock()
    private var buffer = Data()

    init(process: Process) { self.process = process }

    func append(_ d: Data) { lock.withLock { buffer.append(d) } }
    var output: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }

    /// Waits until the output contains `text`; false on timeout.
    func waitFor(_ text: String, timeout: Double = 20) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    var args: [String]
    var status: Int32
    var output: String
    var description: String { "nest \(args.joined(separator: " ")) exited \(status): \(output)" }
}
