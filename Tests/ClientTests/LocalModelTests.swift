import Foundation
import TestHarness
import TestBasics
import Testing

/// The embedded default provider, for real: the small local model that
/// `scripts/local-ai` serves (installed by `scripts/test`), behind
/// `nest-server`, asked through `nest`. Its text is not asserted (a 135M model
/// writes what it writes); the shape, streaming into the draft, the usage and
/// the job's record are.
@Suite("the local small model behind nest-server", .serialized)
struct LocalModelTests {
    @Test("an AI request is answered by the real local model: a suggestion, its model and note in the draft, the usage on the job")
    func answeredByLocalModel() async throws {
        let port = Int.random(in: 20_000...29_000)
        let script = ServerProcess.root.appendingPathComponent("scripts/local-ai").path
        var paths: [String] = []
        for what in ["binary", "model"] {
            let r = try await ProcessRunner.run(script, [what], environment: nil)
            guard r.status == 0 else { throw CLIFailure(args: ["scripts/local-ai", what], status: r.status, output: r.out + r.err) }
            paths.append(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // One thread: the other tests run beside this one, and some of them time what they wait for.
        let llama = Process()
        llama.executableURL = URL(fileURLWithPath: paths[0])
        llama.arguments = ["--model", paths[1], "--alias", "SmolLM2-135M-Instruct", "--host", "127.0.0.1", "--port", String(port),
                           "--ctx-size", "2048", "--threads", "1"]
        llama.standardOutput = FileHandle.nullDevice
        llama.standardError = FileHandle.nullDevice
        try llama.run()
        defer { llama.terminate() }
        try await eventually("llama-server to answer", timeout: .seconds(60)) {
            let r = try await ProcessRunner.run("/usr/bin/curl", ["-fsS", "http://127.0.0.1:\(port)/health"], environment: nil)
            return r.status == 0
        }
        let server = try ServerProcess()
        server.serveEnvironment = ["NEST_AI_BASE_URL": "http://127.0.0.1:\(port)/v1", "NEST_AI_MODEL": "SmolLM2-135M-Instruct",
                                   "NEST_AI_NOTE": "small local model", "NEST_AI_MAX_TOKENS": "80"]
        let token = try await server.token("alice", workspace: "w1", role: "owner")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-local-ai")
        try await alice.login(server, token: token, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "jazz", "--title", "Jazz night", "--caption", "Live jazz on Friday", "--platforms", "x"])
        let request = try await alice.json(["ai", "request", "jazz", "--kind", "caption", "--prompt", "a short inviting caption"])
        let id = try #require(request["request"] as? String)
        var shown: [String: Any] = [:]
        try await eventually("the local model's answer", timeout: .seconds(120)) {
            try await alice.ok(["sync"])
            shown = try await alice.json(["ai", "show", "jazz", id])
            return ["ready", "failed"].contains(shown["status"] as? String ?? "")
        }
        #expect(shown["status"] as? String == "ready", "\(shown)")
        #expect((shown["result"] as? String)?.isEmpty == false)
        #expect(shown["model"] as? String == "SmolLM2-135M-Instruct" && shown["note"] as? String == "small local model")
        let jobs = try await server.admin(["jobs", "list", "--kind", "ai.generate", "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(jobs.utf8)) as? [[String: Any]] ?? []
        let result = (parsed.first?["result"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let usage = result?["usage"] as? [String: Any]
        #expect(parsed.first?["state"] as? String == "completed", "\(parsed)")
        #expect((usage?["promptTokens"] as? Int ?? 0) > 0 && (usage?["completionTokens"] as? Int ?? 0) > 0, "\(String(describing: result))")
    }
}
