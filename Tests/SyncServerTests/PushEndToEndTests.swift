import CRDT
import Foundation
import Model
import Synchronization
import SyncProtocol
import TestHarness
import TestBasics
import Testing

/// A `nest` data directory driven through the real binary.
struct NestDevice {
    static let binary = ServerProcess.root.appendingPathComponent(".build/debug/nest").path
    let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-push-\(UUID().uuidString)").path

    @discardableResult
    func ok(_ args: [String]) async throws -> String {
        let r = try await ProcessRunner.run(Self.binary, args + ["--data-dir", dataDir])
        guard r.status == 0 else { throw WebPushEndpointError(description: "nest \(args.joined(separator: " ")) exited \(r.status): \(r.out)\(r.err)") }
        return r.out
    }

    /// Starts `nest watch`, collecting what it prints.
    func watch() throws -> (Process, Output) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["watch", "--data-dir", dataDir]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let text = Output()
        try p.run()
        PipeDrain.start(out) { d in text.text.withLock { $0 += String(decoding: d, as: UTF8.self) } }
        return (p, text)
    }

    final class Output: Sendable {
        let text = Mutex("")
        func contains(_ s: String) -> Bool { text.withLock { $0.contains(s) } }
    }
}

@Suite("push relay end to end (nest-server, nest, a Web Push endpoint checked by http_ece, an ntfy server)", .serialized, .timeLimit(.minutes(4)))
struct PushEndToEndTests {
    static let draft = "w1/draft/d1"
    /// The server's edits window in these tests.
    static let window = Duration.seconds(4)

    /// Alice's edits, one update each, every one acked (so committed) before the next.
    static func edit(port: Int, token: String, doc: ClientDoc, times: Int, create: Bool = false) async throws {
        let name = try DocumentName(parsing: draft)
        if create { try Draft(name: name, doc: doc.doc).create(title: "Launch") }
        for i in 0..<times { try Draft(name: name, doc: doc.doc).appendCaption(" \(i)") }
        let updates = doc.pendingUpdates()
        _ = try await NestConnection.session(port: port) { c in
            try await c.send(NestConnection.hello(token))
            _ = try await c.next(where: { if case .welcome = $0 { true } else { false } })
            for (seq, u) in updates.enumerated() {
                try await c.send(.update(documentID: draft, clientSeq: seq + 1, update: u))
                guard case .ack? = try await c.next(where: { if case .ack = $0 { true } else if case .refused = $0 { true } else { false } }) else {
                    throw WebPushEndpointError(description: "update \(seq + 1) not acked")
                }
            }
        }
    }

    @Test("edits coalesce into one push per follower and window; a live device gets them in-band; a gone subscription is dropped; an outage loses nothing")
    func relay() async throws {
        let endpoint = try await WebPushEndpoint.start()
        defer { endpoint.stop() }
        let ntfy = FakeNtfy(expectedAuthorization: "Bearer tk_carol")
        try await ntfy.start()
        defer { ntfy.stop() }
        let server = try ServerProcess()
        let keyFile = server.dataDir + "/vapid.pem"
        let publicKey = try await server.admin(["push", "vapid-key", "--out", keyFile])
        #expect(Base64URL.decode(publicKey)?.count == 65)
        server.serveEnvironment = ["NEST_VAPID_KEY_FILE": keyFile, "NEST_VAPID_SUBJECT": "mailto:ops@clientnest.test",
                                   "NEST_PUSH_EDITS_WINDOW_SECONDS": "\(Int(Self.window.components.seconds))", "NEST_PUSH_BACKGROUND_INTERVAL_SECONDS": "3600"]
        let aliceToken = try await server.token("alice", workspace: "w1", role: "owner")
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        let carolToken = try await server.token("carol", workspace: "w1", role: "editor")
        try await server.start()
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)"

        let bob = NestDevice(), carol = NestDevice()
        try await bob.ok(["login", "--server", url, "--token", bobToken, "--workspace", "w1"])
        try await carol.ok(["login", "--server", url, "--token", carolToken, "--workspace", "w1"])
        let ok = try #require(endpoint.subscriptions["ok"]), gone = try #require(endpoint.subscriptions["gone"])
        let registered = try await bob.ok(["devices", "register", "--provider", "webpush", "--field", "endpoint=\(ok.endpoint)",
                                           "--field", "p256dh=\(ok.p256dh)", "--field", "auth=\(ok.auth)"])
        #expect(registered.contains("registered webpush device dv_"), "\(registered)")
        try await carol.ok(["devices", "register", "--provider", "ntfy", "--field", "url=\(ntfy.topicURL("carol"))", "--field", "auth=tk_carol"])
        // Bob's second device, over REST: a subscription the push service says is gone.
        let rest = try await ProcessRunner.run("/usr/bin/curl", [
            "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "\(url)/v1/devices", "-H", "Authorization: Bearer \(bobToken)",
            "-H", "Content-Type: application/json", "-d", #"{"provider":"webpush","fields":{"endpoint":"\#(gone.endpoint)","p256dh":"\#(gone.p256dh)","auth":"\#(gone.auth)"}}"#,
        ])
        #expect(rest.out == "201", "\(rest)")
        let refused = try await ProcessRunner.run("/usr/bin/curl", [
            "-sS", "-X", "POST", "\(url)/v1/devices", "-H", "Authorization: Bearer \(bobToken)", "-d", #"{"provider":"apns","fields":{"token":"zz"}}"#,
        ])
        #expect(refused.out.contains("invalid_device") && refused.out.contains("hex"), "\(refused.out)")

        // Alice writes the draft; bob and carol edit it too, which makes them followers.
        let alice = ClientDoc(clientID: 700)
        try await Self.edit(port: server.port, token: aliceToken, doc: alice, times: 1, create: true)
        try await bob.ok(["sync"])
        try await bob.ok(["draft", "caption", "d1", "--append", " (bob)"])
        try await carol.ok(["sync"])
        try await carol.ok(["draft", "caption", "d1", "--append", " (carol)"])
        // Bob's and carol's edits reach each other (one window each), then a hundred of alice's make one more push each.
        func bobSaw(_ text: String) async throws -> Int {
            try await endpoint.log().filter { $0.sub == "ok" && ($0.plaintext ?? "").contains(text) }.count
        }
        func carolSaw(_ text: String) -> Int { ntfy.messages(topic: "carol").filter { $0.title.contains(text) }.count }
        // Carol followed the draft only after bob's edit: she is not told of it.
        try await eventually("bob told of carol's edit", timeout: .seconds(30)) { try await bobSaw("carol edited") == 1 }
        // Both of bob's first pushes (the alert and the silent one) may have been in flight when the 410 came; none after it.
        let goneTries = try await endpoint.log().filter { $0.sub == "gone" }.count
        #expect((1...2).contains(goneTries))
        let editing = ContinuousClock.now
        try await Self.edit(port: server.port, token: aliceToken, doc: alice, times: 100)
        let took = ContinuousClock.now - editing
        try await eventually("a push each for alice's hundred edits", timeout: .seconds(30)) {
            try await bobSaw("alice edited") >= 1 && carolSaw("alice edited") >= 1
        }
        try await Task.sleep(for: Self.window + .seconds(2))
        // One push per window: edits that a loaded machine spread over more than one window make one push per window they touched.
        let windows = 1 + Int(took / Self.window)
        let (bobFirst, carolFirst) = (try await bobSaw("alice edited"), carolSaw("alice edited"))
        #expect((1...windows).contains(bobFirst) && (1...windows).contains(carolFirst), "\(bobFirst) and \(carolFirst) pushes for 100 edits in \(took)")
        let bobLog = try await endpoint.log()
        #expect(bobLog.flatMap(\.problems).isEmpty, "\(bobLog.flatMap(\.problems))")
        #expect(bobLog.filter { $0.sub == "ok" && $0.plaintext == #"{"event":"background"}"# }.count == 1, "silent pushes are rate-limited per device")
        let pushed = try #require(bobLog.first { ($0.plaintext ?? "").contains("alice edited") }?.plaintext)
        #expect(pushed.contains("“Launch”") && !pushed.contains("(carol)"), "names the draft by its title and shows nothing of its text: \(pushed)")
        #expect(ntfy.violations.isEmpty, "\(ntfy.violations)")
        #expect(carolSaw("bob edited") == 0)
        // The gone subscription was dropped at its first answer and never tried again.
        #expect(try await endpoint.log().filter { $0.sub == "gone" }.count == goneTries)
        let devices = try await server.admin(["push", "devices", "--user", "bob"])
        #expect(devices.contains("dropped: 410"), "\(devices)")

        // Carol watches live: her notifications come in-band, and her ntfy topic gets nothing.
        let (watch, said) = try carol.watch()
        defer { watch.terminate() }
        try await eventually("carol's device registered on her live connection") { said.contains("event device.registered") }
        try await Self.edit(port: server.port, token: aliceToken, doc: alice, times: 5)
        try await eventually("the in-band event", timeout: .seconds(20)) { said.contains("event push.edits \(Self.draft)") }
        try await eventually("bob's next push (his device is not connected)", timeout: .seconds(20)) { try await bobSaw("alice edited") > bobFirst }
        #expect(carolSaw("alice edited") == carolFirst, "no push to a device that got the event in-band")
        watch.terminate()
        try await eventually("nest watch stopped") { !watch.isRunning }

        // Carol's ntfy server is down for a minute while alice edits twice, half a minute apart, then back: each push
        // arrives, once. Retries back off with equal jitter, so a delivery's eight attempts span over two minutes and
        // none is used up by the outage. Counted from a quiet moment: on a loaded machine the last step's edits may
        // have reached a window that closes after carol stopped watching.
        try await Task.sleep(for: Self.window + .seconds(2))
        let beforeOutage = carolSaw("alice edited")
        ntfy.setDown(true)
        let outage = ContinuousClock.now
        try await Self.edit(port: server.port, token: aliceToken, doc: alice, times: 3)
        var outageWindows = 1 + Int((ContinuousClock.now - outage) / Self.window)
        try await eventually("a refused attempt", timeout: .seconds(20)) { ntfy.refusedWhileDown > 0 }
        try await Task.sleep(until: outage + .seconds(30), clock: .continuous)
        let secondEdits = ContinuousClock.now
        try await Self.edit(port: server.port, token: aliceToken, doc: alice, times: 3)
        outageWindows += 1 + Int((ContinuousClock.now - secondEdits) / Self.window)
        try await Task.sleep(until: outage + .seconds(60), clock: .continuous)
        #expect(carolSaw("alice edited") == beforeOutage, "nothing gets through while the server is down")
        let refusedDuringOutage = ntfy.refusedWhileDown
        ntfy.setDown(false)
        // The next attempt after a minute of failures comes within about a minute (the sixth attempt's delay is 32-64 s).
        try await eventually("both pushes after the outage", timeout: .seconds(150)) { carolSaw("alice edited") >= beforeOutage + 2 }
        try await Task.sleep(for: .seconds(3))
        let afterOutage = carolSaw("alice edited") - beforeOutage
        #expect((2...outageWindows).contains(afterOutage), "delivered once per window: \(afterOutage) pushes for \(outageWindows) window(s)")
        #expect(refusedDuringOutage >= 2, "each delivery was attempted during the outage and refused: \(refusedDuringOutage)")
        let log = try await server.admin(["push", "log", "--user", "carol"])
        for outcome in ["delivered", "in-band", "retry"] { #expect(log.contains(outcome), "\(log)") }
        let metrics = try await ProcessRunner.run("/usr/bin/curl", ["-fsS", "\(url)/metrics"]).out
        #expect(metrics.contains(#"nest_push_deliveries_total{provider="ntfy",outcome="retry"}"#), "\(metrics.split(separator: "\n").filter { $0.contains("push") })")
        #expect(metrics.contains(#"nest_push_deliveries_total{provider="webpush",outcome="gone"} \#(goneTries)"#))
    }
}

extension PushEndToEndTests {
    @Test("a title conflict made offline pushes once, to the user whose edit lost; an @mention in a comment pushes to the one mentioned")
    func conflictAndMention() async throws {
        let ntfy = FakeNtfy()
        try await ntfy.start()
        defer { ntfy.stop() }
        let server = try ServerProcess()
        let aliceToken = try await server.token("alice", workspace: "w1", role: "owner")
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        let malloryToken = try await server.token("mallory", workspace: "w2", role: "owner")
        try await server.start()
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)"
        let mallory = try await ProcessRunner.run("/usr/bin/curl", ["-fsS", "-X", "POST", "\(url)/v1/devices", "-H", "Authorization: Bearer \(malloryToken)",
                                                                    "-d", #"{"provider":"ntfy","fields":{"url":"\#(ntfy.topicURL("mallory"))"}}"#])
        #expect(mallory.status == 0, "\(mallory)")
        let alice = NestDevice(), bob = NestDevice()
        try await alice.ok(["login", "--server", url, "--token", aliceToken, "--workspace", "w1"])
        try await bob.ok(["login", "--server", url, "--token", bobToken, "--workspace", "w1"])
        try await alice.ok(["devices", "register", "--provider", "ntfy", "--field", "url=\(ntfy.topicURL("alice"))"])
        try await bob.ok(["devices", "register", "--provider", "ntfy", "--field", "url=\(ntfy.topicURL("bob"))"])
        // Only conflicts and mentions here: edits of followed drafts stay quiet.
        for token in [aliceToken, bobToken] {
            let r = try await ProcessRunner.run("/usr/bin/curl", ["-fsS", "-X", "PUT", "\(url)/v1/push/preferences", "-H", "Authorization: Bearer \(token)",
                                                                  "-d", #"{"events":["conflict","mention"]}"#])
            #expect(r.status == 0 && r.out.contains(#""events":["conflict","mention"]"#), "\(r)")
        }
        try await alice.ok(["drafts", "new", "--id", "d2", "--title", "Spring"])
        try await bob.ok(["sync"])
        try await alice.ok(["drafts", "edit", "d2", "--title", "Spring A", "--offline"])
        try await bob.ok(["drafts", "edit", "d2", "--title", "Spring B", "--offline"])
        try await alice.ok(["sync"])
        try await bob.ok(["sync"])
        try await alice.ok(["sync"])
        let listed = try JSONSerialization.jsonObject(with: Data(try await bob.ok(["conflicts", "list", "--json"]).utf8)) as? [[String: Any]] ?? []
        let conflict = try #require(listed.first?["conflict"] as? [String: Any])
        let loser = try #require(conflict["loserUser"] as? String), winner = try #require(conflict["winnerUser"] as? String)
        try await eventually("the conflict push", timeout: .seconds(20)) { !ntfy.messages(topic: loser).isEmpty }
        try await Task.sleep(for: .seconds(2))
        let toLoser = ntfy.messages(topic: loser)
        #expect(toLoser.count == 1 && toLoser[0].title.contains("\(winner) overwrote your title in “Spring"), "\(toLoser)")
        #expect(!toLoser[0].body.contains("Spring A") && !toLoser[0].body.contains("Spring B"), "the values are not in the push")
        #expect(ntfy.messages(topic: winner).isEmpty, "the user whose value won is not told")

        try await bob.ok(["drafts", "edit", "d2", "--comment", "@alice can you check the hashtags? cc ops@example.com @mallory"])
        try await eventually("the mention push", timeout: .seconds(20)) { ntfy.messages(topic: "alice").contains { $0.title.contains("bob mentioned you") } }
        let mention = try #require(ntfy.messages(topic: "alice").first { $0.title.contains("mentioned") })
        #expect(!mention.body.contains("hashtags"), "the comment's text is not in the push")
        try await bob.ok(["sync"])
        try await Task.sleep(for: .seconds(2))
        #expect(ntfy.messages(topic: "alice").filter { $0.title.contains("mentioned") }.count == 1, "told once")
        #expect(ntfy.messages(topic: "bob").allSatisfy { !$0.title.contains("mentioned") })
        #expect(ntfy.messages(topic: "mallory").isEmpty, "someone outside the workspace hears nothing of its drafts")
    }
}

extension PushEndToEndTests {
    @Test("an AI answer pushes 'ready' to the requester, a failed request pushes 'failed'; push test reaches every device and says so")
    func aiAndTest() async throws {
        let ntfy = FakeNtfy()
        try await ntfy.start()
        defer { ntfy.stop() }
        let provider = FakeChatProvider()
        try await provider.start()
        defer { provider.stop() }
        provider.enqueue(.stream(text: "Spring is here: fresh drafts, new looks. #spring"),
                         .error(status: 401, code: "invalid_api_key", message: "Incorrect API key provided"))
        let server = try ServerProcess()
        server.serveEnvironment = ["NEST_AI_BASE_URL": provider.baseURL, "NEST_AI_API_KEY": provider.apiKey, "NEST_AI_MODEL": provider.model]
        let bobToken = try await server.token("bob", workspace: "w1", role: "editor")
        try await server.start()
        defer { server.stop() }
        let bob = NestDevice()
        try await bob.ok(["login", "--server", "http://127.0.0.1:\(server.port)", "--token", bobToken, "--workspace", "w1"])
        try await bob.ok(["devices", "register", "--provider", "ntfy", "--field", "url=\(ntfy.topicURL("bob"))"])
        try await bob.ok(["drafts", "new", "--id", "d3", "--title", "Spring sale", "--caption", "Hello"])
        try await bob.ok(["ai", "request", "d3", "--kind", "caption", "--prompt", "make it inviting"])
        try await eventually("the ready push", timeout: .seconds(30)) { ntfy.messages(topic: "bob").contains { $0.tags == "ai.ready" } }
        let ready = try #require(ntfy.messages(topic: "bob").first { $0.tags == "ai.ready" })
        #expect(ready.title == "AI caption ready for “Spring sale”" && !ready.body.contains("Spring is here"), "\(ready)")
        try await bob.ok(["ai", "request", "d3", "--kind", "hashtags", "--prompt", "three tags"])
        try await eventually("the failed push", timeout: .seconds(30)) { ntfy.messages(topic: "bob").contains { $0.tags == "ai.failed" } }
        let failed = try #require(ntfy.messages(topic: "bob").first { $0.tags == "ai.failed" })
        #expect(failed.title == "AI hashtags failed for “Spring sale”", "\(failed)")

        let test = try await server.admin(["push", "test", "--user", "bob", "--wait", "20"])
        #expect(test.contains("ntfy: delivered"), "\(test)")
        #expect(ntfy.messages(topic: "bob").contains { $0.title == "Test from nest-server" })
        // Preferences and devices from the client's side.
        let prefs = try await bob.ok(["push", "prefs", "--events", "mention,ai.ready", "--quiet-hours", "22:00-07:00", "--time-zone", "Europe/Berlin"])
        #expect(prefs.contains("events: ai.ready, mention") && prefs.contains("quiet hours: 22:00-07:00 Europe/Berlin"), "\(prefs)")
        let refusedPrefs = try await ProcessRunner.run(NestDevice.binary, ["push", "prefs", "--events", "everything", "--data-dir", bob.dataDir])
        #expect(refusedPrefs.status != 0 && (refusedPrefs.out + refusedPrefs.err).contains("unknown event everything"), "\(refusedPrefs)")
        let listed = try await bob.ok(["devices", "list"])
        let id = try #require(listed.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("dv_") }.map(String.init))
        #expect(listed.contains("(this)") && listed.contains(ntfy.topicURL("bob")) && listed.contains("active"), "\(listed)")
        try await bob.ok(["devices", "remove", id])
        #expect(try await bob.ok(["devices", "list"]).contains("no devices"))
        #expect(try await server.admin(["push", "test", "--user", "bob", "--wait", "20"]).contains("bob has no active devices"))
        let nobody = try await server.admin(["push", "test", "--user", "nobody", "--wait", "20"])
        #expect(nobody.contains("nobody has no active devices"), "\(nobody)")
        #expect(ntfy.violations.isEmpty && provider.violations.isEmpty)
    }
}

extension ClientDoc {
    /// The updates made since the last call, one per transaction (not merged).
    func pendingUpdates() -> [[UInt8]] {
        defer { _ = try? take() }
        return pending
    }
}
