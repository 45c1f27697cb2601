import CRDT
import Foundation
import Model
import SyncClient
import TestHarness
import TestBasics
import Testing

/// End to end with real processes on loopback: `nest-server` (SQLite or
/// PostgreSQL) and `nest` clients, plus Debian's y-websocket provider.
@Suite("client end to end (nest and nest-server processes)", .serialized)
struct ClientEndToEndTests {
    static func server(postgres: Bool = false) async throws -> ServerProcess {
        let server = try ServerProcess()
        if postgres {
            guard let (url, _) = try await TestDatabase.fresh() else { throw CLIFailure(args: [], status: 0, output: "no database") }
            server.databaseURL = url
        }
        return server
    }

    static func caption(_ cli: NestCLI, _ id: String) async throws -> String {
        try await cli.json(["drafts", "show", id])["caption"] as? String ?? "<none>"
    }

    @Test("two clients edit offline and reconnect in either order: both converge, the title conflict is logged",
          arguments: [("sqlite", true), ("sqlite", false), ("postgresql", true), ("postgresql", false)])
    func offlineMerge(store: String, aliceFirst: Bool) async throws {
        let server = try await Self.server(postgres: store == "postgresql")
        let aliceToken = try await server.token("alice", workspace: "w1", role: "owner")
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice"), bob = NestCLI("bob")
        try await alice.login(server, token: aliceToken, workspace: "w1")
        try await bob.login(server, token: bobToken, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "launch", "--title", "Launch", "--caption", "Hello"])
        try await bob.ok(["sync"])
        #expect(try await Self.caption(bob, "launch") == "Hello")

        // Offline on both sides.
        try await alice.ok(["draft", "caption", "launch", "--insert-at", "0", "--text", "🌸 ", "--offline"])
        try await alice.ok(["drafts", "edit", "launch", "--title", "Launch A", "--offline"])
        try await bob.ok(["draft", "caption", "launch", "--append", " world", "--offline"])
        try await bob.ok(["drafts", "edit", "launch", "--title", "Launch B", "--add-hashtags", "spring", "--offline"])
        #expect(try await alice.json(["status"])["pendingEdits"] as? Int == 2)

        let order = aliceFirst ? [alice, bob, alice] : [bob, alice, bob]
        for cli in order { try await cli.ok(["sync"]) }
        let a = try await alice.json(["drafts", "show", "launch"]), b = try await bob.json(["drafts", "show", "launch"])
        #expect(a["caption"] as? String == "🌸 Hello world", "\(a)")
        #expect(b["caption"] as? String == a["caption"] as? String)
        #expect(a["title"] as? String == b["title"] as? String)
        #expect(["Launch A", "Launch B"].contains(a["title"] as? String ?? ""))
        #expect(b["hashtags"] as? [String] == ["spring"] && a["hashtags"] as? [String] == ["spring"])
        for cli in [alice, bob] {
            let status = try await cli.json(["status"])
            #expect(status["pendingEdits"] as? Int == 0, "\(status)")
            #expect(status["openConflicts"] as? Int == 1, "\(status)")
        }
        let listed = try await alice.ok(["conflicts", "list"])
        #expect(listed.contains("draft.title") && listed.contains("alice") && listed.contains("bob"), "\(listed)")
    }

    @Test("an AI request made offline is answered by the server, accepted on one device, and the other device converges")
    func aiRoundTrip() async throws {
        let fake = FakeChatProvider()
        try await fake.start()
        defer { fake.stop() }
        let suggestion = "Launch day is here: meet the new Nest, made for teams who plan ahead. #launch"
        fake.enqueue(.stream(text: suggestion))
        let server = try await Self.server()
        server.serveEnvironment = ["NEST_AI_BASE_URL": fake.baseURL, "NEST_AI_API_KEY": fake.apiKey, "NEST_AI_MODEL": fake.model,
                                   "NEST_AI_NOTE": "test provider"]
        let aliceToken = try await server.token("alice", workspace: "w1", role: "owner")
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-ai"), bob = NestCLI("bob-ai")
        try await alice.login(server, token: aliceToken, workspace: "w1")
        try await bob.login(server, token: bobToken, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "launch", "--title", "Launch", "--caption", "Hello", "--platforms", "x"])
        let request = try await alice.json(["ai", "request", "launch", "--kind", "caption", "--prompt", "make it inviting", "--offline"])
        let id = try #require(request["request"] as? String)
        #expect(try await alice.json(["status"])["pendingEdits"] as? Int == 1)
        try await alice.ok(["sync"])

        // Bob's device learns of the answer by syncing.
        var shown: [String: Any] = [:]
        try await eventually("the suggestion on bob's device") {
            try await bob.ok(["sync"])
            shown = try await bob.json(["ai", "show", "launch", id])
            return shown["status"] as? String == "ready"
        }
        #expect(shown["result"] as? String == suggestion && shown["model"] as? String == fake.model && shown["note"] as? String == "test provider")
        let listed = try await bob.ok(["ai", "list"])
        #expect(listed.contains(id) && listed.contains("[ready]"), "\(listed)")
        try await bob.ok(["ai", "accept", "launch", id])
        try await alice.ok(["sync"])
        let a = try await alice.json(["drafts", "show", "launch"]), b = try await bob.json(["drafts", "show", "launch"])
        #expect(a["caption"] as? String == suggestion && b["caption"] as? String == suggestion)
        let aliceSees = try await alice.json(["ai", "show", "launch", id])
        #expect(aliceSees["status"] as? String == "accepted")
        // Accepting twice is refused with a reason.
        let again = try await alice.run(["ai", "accept", "launch", id])
        #expect(again.status != 0 && again.err.contains("only a ready suggestion"), "\(again)")
        #expect(fake.requests.count == 1 && fake.violations.isEmpty, "\(fake.violations)")
        let jobs = try await server.admin(["jobs", "list", "--kind", "ai.generate"])
        #expect(jobs.contains("completed") && jobs.contains("w1/draft/launch"), "\(jobs)")
        let metrics = try await ProcessRunner.run("/usr/bin/curl", ["-fsS", "http://127.0.0.1:\(server.port)/metrics"], environment: nil).out
        #expect(metrics.contains(#"nest_jobs_finished_total{kind="ai.generate",outcome="completed"} 1"#), "\(metrics.split(separator: "\n").filter { $0.contains("job") })")
    }

    @Test("a viewer's edits are refused, reported with exit status 4, never retried, and never block other documents")
    func viewer() async throws {
        let server = try await Self.server()
        let ownerToken = try await server.token("olga", workspace: "w1", role: "owner")
        let vicToken = try await server.token("vic", workspace: "w1", role: "viewer")
        _ = try await server.token("vic", workspace: "w2", role: "editor")
        try await server.start()
        defer { server.stop() }
        let olga = NestCLI("olga"), vic = NestCLI("vic")
        try await olga.login(server, token: ownerToken, workspace: "w1")
        try await olga.ok(["drafts", "new", "--id", "p1", "--title", "Post", "--caption", "Original"])
        try await vic.login(server, token: vicToken, workspace: "w1")
        #expect(try await Self.caption(vic, "p1") == "Original", "a viewer reads")

        try await vic.ok(["draft", "caption", "p1", "--append", " VANDAL", "--offline"])
        try await vic.ok(["drafts", "new", "--id", "mine", "--title", "Mine", "--caption", "ok", "--workspace", "w2", "--offline"])
        let first = try await vic.run(["sync"])
        #expect(first.status == 4, "\(first)")
        #expect(first.out.contains("read_only"), "\(first.out)")
        // Refused edits are never shown as synced: status, list and show say refused, and status and sync exit 4.
        let statusRun = try await vic.run(["status", "--json"])
        #expect(statusRun.status == 4, "\(statusRun)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(statusRun.out.utf8)) as? [String: Any])
        #expect(status["refusedEdits"] as? Int == 1 && status["pendingEdits"] as? Int == 0, "the w2 edit went through: \(status)")
        #expect(status["state"] as? String == "refused", "\(status)")
        let statusText = try await vic.run(["status"])
        #expect(statusText.status == 4 && !statusText.out.contains("every local edit is on the server"), "\(statusText)")
        let list = try await vic.run(["drafts", "list"])
        #expect(list.out.split(separator: "\n").contains { $0.hasPrefix("p1 ") && $0.hasSuffix("refused") }, "\(list.out)")
        let show = try await vic.ok(["drafts", "show", "p1"])
        #expect(show.contains("sync:      refused — read_only"), "\(show)")
        let again = try await vic.run(["sync"])
        #expect(again.status == 4 && again.out.contains("refused earlier: w1/draft/p1: read_only"), "still refused: \(again)")
        #expect(again.out.contains("sent 0 edits"), "a refused edit is not retried: \(again)")
        // An edit refused as it is made: the command says so and exits 4, and the draft is listed as refused.
        let online = try await vic.run(["drafts", "new", "--id", "p2", "--title", "Viewer's own"])
        #expect(online.status == 4 && online.out == "p2\n" && online.err.contains("refused by the server: w1/draft/p2: read_only"), "\(online)")
        let listed = try await vic.run(["drafts", "list", "--json"])
        #expect(listed.out.contains("p2"), "\(listed)")
        // A name the server would refuse for its form is refused locally first, by the same rule, and nothing is stored.
        let badName = try await vic.run(["drafts", "new", "--id", "_x", "--title", "Bad", "--offline"])
        #expect(badName.status != 0 && badName.err.contains("invalid document name"), "\(badName)")
        let afterBad = try await vic.run(["status", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(afterBad.out.utf8)) as? [String: Any])?["documents"] as? Int == status["documents"].flatMap { $0 as? Int }.map { $0 + 1 },
                "only p2 was added: \(afterBad.out)")
        try await olga.ok(["sync"])
        #expect(try await Self.caption(olga, "p1") == "Original")
        let vic2 = NestCLI("vic2")
        try await vic2.login(server, token: vicToken, workspace: "w2")
        #expect(try await Self.caption(vic2, "mine") == "ok", "the viewer's refusal in w1 did not block w2")
    }

    @Test("5,000 pending edits across 100 documents sync after reconnect, once each")
    func manyPendingEdits() async throws {
        let server = try await Self.server()
        let token = try await server.token("alice", workspace: "w1", role: "editor")
        let readerToken = try await server.token("rita", workspace: "w1", role: "viewer")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("bulk")
        try await alice.login(server, token: token, workspace: "w1")
        let port = server.port
        server.stop()
        // The edits go through the client library, as an app's would, while the server is down.
        let store = try LocalStore(directory: alice.dataDir)
        for i in 0..<5_000 {
            try store.edit("w1/draft/doc\(i % 100)", user: "alice") { doc in
                let t = doc.getText("caption")
                try t.insert(t.length, "<\(i)>")
            }
        }
        #expect(try store.outboxSummary().pendingUpdates == 5_000)
        let offline = try await alice.run(["sync", "--timeout", "3"])
        #expect(offline.status != 0, "sync with the server down must fail: \(offline)")
        #expect(offline.err.contains("cannot reach the server"), "\(offline.err)")
        try await server.start(port: port)
        let r = try await alice.json(["sync"])
        #expect(r["editsAcked"] as? Int == 5_000 && r["pendingAfter"] as? Int == 0 && r["complete"] as? Bool == true, "\(r)")
        let rita = NestCLI("rita")
        try await rita.login(server, token: readerToken, workspace: "w1")
        let copy = try LocalStore(directory: rita.dataDir)
        for d in 0..<100 {
            let text = try copy.load("w1/draft/doc\(d)").getText("caption").toString()
            let expected = stride(from: d, to: 5_000, by: 100).map { "<\($0)>" }.joined()
            #expect(text == expected, "doc\(d): \(text.prefix(80))")
        }
        let again = try await alice.json(["sync"])
        #expect(again["editsAcked"] as? Int == 0 && again["bytesSent"] as? Int ?? .max < 2_000, "nothing is sent twice: \(again)")
    }

    @Test("the server restarts while a watching client stays up: it reconnects and shows new edits live")
    func serverRestart() async throws {
        let server = try await Self.server()
        let aliceToken = try await server.token("alice", workspace: "w1")
        let bobToken = try await server.token("bob", workspace: "w1")
        try await server.start()
        let port = server.port
        let alice = NestCLI("alice-r"), bob = NestCLI("bob-r")
        try await alice.login(server, token: aliceToken, workspace: "w1")
        try await bob.login(server, token: bobToken, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "live", "--title", "Live", "--caption", "one"])
        let watch = try bob.spawn(["watch"])
        defer { watch.stop() }
        #expect(await watch.waitFor("caption: one"), "initial sync not shown: \(watch.output)")
        try await alice.ok(["draft", "caption", "live", "--append", " two"])
        #expect(await watch.waitFor("caption: one two"), "live change not shown: \(watch.output)")
        server.kill9()
        try await alice.ok(["draft", "caption", "live", "--append", " three", "--offline"])
        try await server.start(port: port)
        defer { server.stop() }
        try await alice.ok(["sync"])
        #expect(await watch.waitFor("caption: one two three", timeout: 40), "no reconnect: \(watch.output)")
        // Bob's own edits made by another process while watch runs go out through the watcher.
        try await bob.ok(["draft", "caption", "live", "--append", " four", "--offline"])
        let deadline = Date().addingTimeInterval(20)
        var lastSync = ""
        while try await Self.caption(alice, "live") != "one two three four", Date() < deadline {
            lastSync = try await alice.ok(["sync"])
            try await Task.sleep(for: .milliseconds(200))
        }
        let bobStatus = try await bob.json(["status"])
        #expect(try await Self.caption(alice, "live") == "one two three four",
                "watcher running: \(watch.process.isRunning)\n\(watch.output)\nbob: \(bobStatus)\nalice's last sync: \(lastSync)\nserver: \(server.logTail())")
    }

    @Test("a stock Yjs peer (Debian y-websocket provider) and nest edit one caption")
    func yjsPeer() async throws {
        let server = try await Self.server()
        let token = try await server.token("alice", workspace: "w1")
        server.peerEnvironment = ["YWS_TEXT": "caption"]
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-y")
        try await alice.login(server, token: token, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "web", "--title", "Web", "--caption", "from nest"])
        let read = try await server.peers(["read", "w1/draft/web", token])
        #expect(read["text"] as? String == "from nest", "\(read)")
        let w = try await server.peers(["write", "w1/draft/web", token, " + from yjs"])
        #expect(w["ok"] as? Bool == true, "\(w)")
        try await alice.ok(["sync"])
        #expect(try await Self.caption(alice, "web") == "from nest + from yjs")
        #expect(try await alice.json(["drafts", "show", "web"])["title"] as? String == "Web", "the Yjs peer's update kept the model intact")
    }

    @Test("kill -9 of nest processes mid-edit loses no completed edit and leaves no half edit")
    func killNine() async throws {
        let server = try await Self.server()
        let token = try await server.token("alice", workspace: "w1")
        let readerToken = try await server.token("rita", workspace: "w1", role: "viewer")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-k")
        try await alice.login(server, token: token, workspace: "w1")
        try await alice.ok(["drafts", "new", "--id", "k", "--title", "K", "--offline"])
        var rng = SeededRandom(seed: 77)
        var completed: [Int] = []
        for i in 0..<24 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: NestCLI.binary)
            // Online edits: each commits locally, then starts a sync the kill may interrupt.
            p.arguments = ["draft", "caption", "k", "--append", "[\(i)]", "--data-dir", alice.dataDir]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Every other edit runs to the end; the rest are killed at a random moment.
            if i % 2 == 1 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...150, using: &rng)))
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            }
            while p.isRunning { try await Task.sleep(for: .milliseconds(5)) }
            if p.terminationReason == .exit && p.terminationStatus == 0 { completed.append(i) }
        }
        #expect(completed.count >= 12, "seed 77: the edits that were not killed must complete (\(completed))")
        try await alice.ok(["sync"])
        let rita = NestCLI("rita-k")
        try await rita.login(server, token: readerToken, workspace: "w1")
        let text = try await Self.caption(rita, "k")
        for i in completed { #expect(text.contains("[\(i)]"), "completed edit \(i) lost: \(text)") }
        #expect(text.range(of: #"^(\[[0-9]+\])*$"#, options: .regularExpression) != nil, "half an edit: \(text)")
        #expect(text == (try await Self.caption(alice, "k")))
    }

    @Test("the commands a user runs: brand kit, calendar, conflicts resolve, AI request, doc export, and errors that say what to do")
    func commands() async throws {
        let server = try await Self.server()
        let aliceToken = try await server.token("alice", workspace: "w1", role: "owner")
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-c"), bob = NestCLI("bob-c")

        let notLoggedIn = try await alice.run(["sync"])
        #expect(notLoggedIn.status != 0 && notLoggedIn.err.contains("nest login"), "\(notLoggedIn)")
        try await alice.login(server, token: aliceToken, workspace: "w1")
        try await bob.login(server, token: bobToken, workspace: "w1")

        try await alice.ok(["brand", "set-color", "primary", "#abc"])
        try await alice.ok(["brand", "add-font", "Inter", "--role", "heading"])
        try await alice.ok(["brand", "set-voice", "Warm and direct."])
        let badColour = try await alice.run(["brand", "set-color", "primary", "red"])
        #expect(badColour.status != 0 && badColour.err.contains("#RRGGBB"), "\(badColour)")
        try await bob.ok(["sync"])
        let kit = try await bob.json(["brand", "show"])
        #expect((kit["colors"] as? [[String: Any]])?.first?["hex"] as? String == "#AABBCC", "\(kit)")
        #expect(kit["voice"] as? String == "Warm and direct.")

        try await alice.ok(["drafts", "new", "--id", "p", "--title", "P", "--caption", "Short and sweet", "--platforms", "x"])
        let past = try await alice.run(["calendar", "schedule", "p", "--platform", "x", "--at", "2020-01-01T10:00:00Z"])
        #expect(past.status != 0 && past.err.contains("passed"), "\(past)")
        let unknown = try await alice.run(["calendar", "schedule", "p", "--platform", "myspace", "--at", "2030-01-01T10:00"])
        #expect(unknown.status != 0 && unknown.err.contains("instagram"), "the error lists the known platforms: \(unknown)")
        let scheduled = try await alice.json(["calendar", "schedule", "p", "--platform", "x", "--at", "2030-01-01T10:00", "--tz", "Europe/Berlin"])
        let entry = try #require(scheduled["entry"] as? String)
        try await bob.ok(["sync"])
        let shown = try await bob.ok(["calendar", "show"])
        #expect(shown.contains("2030-01-01T09:00:00Z") && shown.contains("2030-01-01 10:00 Europe/Berlin"), "\(shown)")

        // Concurrent moves of one entry: one wins everywhere, the other is in the log; bob picks his.
        try await alice.ok(["calendar", "move", entry, "--at", "2030-01-02T10:00", "--offline"])
        try await bob.ok(["calendar", "move", entry, "--at", "2030-01-03T10:00", "--offline"])
        try await alice.ok(["sync"])
        try await bob.ok(["sync"])
        try await alice.ok(["sync"])
        let conflicts = try JSONSerialization.jsonObject(with: Data(try await bob.ok(["conflicts", "list", "--json"]).utf8)) as? [[String: Any]] ?? []
        #expect(conflicts.count == 1, "\(conflicts)")
        let conflict = try #require(conflicts.first?["conflict"] as? [String: Any])
        let id = try #require(conflict["id"] as? String)
        let bobsValue = (conflict["winnerUser"] as? String) == "bob" ? "kept" : "lost"
        try await bob.ok(["conflicts", "resolve", String(id.prefix(6)), "--keep", bobsValue])
        try await alice.ok(["sync"])
        let entries = try JSONSerialization.jsonObject(with: Data(try await alice.ok(["calendar", "show", "--json"]).utf8)) as? [[String: Any]] ?? []
        #expect(entries.first?["scheduledAt"] as? String == "2030-01-03T09:00:00Z", "\(entries)")
        #expect(try await alice.json(["status"])["openConflicts"] as? Int == 0)

        let ai = try await alice.json(["ai", "request", "p", "--kind", "caption", "--prompt", "make it shorter"])
        #expect(ai["request"] is String)
        let draft = try await alice.json(["drafts", "show", "p"])
        #expect((draft["ai"] as? [[String: Any]])?.first?["status"] as? String == "requested")
        let export = try await alice.ok(["doc", "export", "w1/draft/p"])
        #expect(export.contains("\"caption\":\"Short and sweet\""), "\(export)")
        let inspect = try await alice.json(["doc", "inspect", "w1/draft/p"])
        #expect(inspect["pendingEdits"] as? Int == 0 && inspect["schema"] as? Int == 1, "\(inspect)")
        let missing = try await alice.run(["drafts", "show", "nope"])
        #expect(missing.status != 0 && missing.err.contains("nest sync"), "\(missing)")
        try await alice.ok(["drafts", "delete", "p"])
        #expect(!(try await alice.ok(["drafts", "list"])).contains("Short and sweet"))
        #expect((try await alice.ok(["drafts", "list", "--all"])).contains("(deleted)"))
    }

    @Test("edits stored by another process while a sync runs are never dropped from the outbox unsent")
    func editsDuringSync() async throws {
        let server = try await Self.server()
        let token = try await server.token("alice", workspace: "w1")
        let readerToken = try await server.token("rita", workspace: "w1", role: "viewer")
        try await server.start()
        defer { server.stop() }
        let alice = NestCLI("alice-race")
        try await alice.login(server, token: token, workspace: "w1")
        let syncing = try LocalStore(directory: alice.dataDir), editing = try LocalStore(directory: alice.dataDir)
        for round in 0..<6 {
            // Edits land in the outbox while syncs of the same directory run.
            async let sync: SyncReport = SyncEngine(store: syncing).run(SyncOptions(mode: .once, timeout: 30))
            for i in 0..<25 {
                try editing.edit("w1/draft/race\(i % 3)", user: "alice") { doc in
                    let t = doc.getText("caption")
                    try t.insert(t.length, "<\(round).\(i)>")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            _ = try await sync
        }
        let last = try await SyncEngine(store: syncing).run(SyncOptions(mode: .once, timeout: 30))
        #expect(last.complete && last.pendingAfter == 0, "\(last)")
        let rita = NestCLI("rita-race")
        try await rita.login(server, token: readerToken, workspace: "w1")
        let copy = try LocalStore(directory: rita.dataDir)
        for d in 0..<3 {
            let text = try copy.load("w1/draft/race\(d)").getText("caption").toString()
            for round in 0..<6 {
                for i in stride(from: d, to: 25, by: 3) { #expect(text.contains("<\(round).\(i)>"), "race\(d) lost <\(round).\(i)>") }
            }
        }
    }
}
