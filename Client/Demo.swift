import ArgumentParser
import CRDT
import Foundation
import Logging
import Model
import SyncClient
import SyncProtocol

/// `nest demo`: a `nest-server` process, two devices of one workspace, offline
/// edits on both to the same draft, brand kit and calendar, reconnect, and
/// the merged result with its conflict log.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Two devices edit offline, reconnect through a nest-server it starts (the one built beside nest, or NEST_SERVER_BIN), and merge.")
    @Option(help: "Keep the demo's data here instead of a temporary folder.") var dataDir: String?

    func run() async throws {
        let root = dataDir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("nest-demo-\(DocumentName.newID())")
        let serverData = (root as NSString).appendingPathComponent("server")
        try FileManager.default.createDirectory(atPath: serverData, withIntermediateDirectories: true)
        let workspace = "acme"
        let (server, tokens) = try await DemoServer.start(dataDirectory: serverData, members: [
            (user: "alice", workspace: workspace, role: "owner"), (user: "bob", workspace: workspace, role: "editor"),
        ])
        // The server is stopped and awaited on every way out, so that it closes its connections and clients itself.
        do {
            try await tour(server: server, tokens: tokens, root: root, workspace: workspace)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    private func tour(server: DemoServer, tokens: [String: String], root: String, workspace: String) async throws {
        let port = server.port
        print("▶ nest-server (\(server.binary)) on 127.0.0.1:\(port), SQLite in \(server.dataDirectory); workspace \(workspace): alice (owner), bob (editor)")
        print("  AI: \(AIDemo.providerDescription ?? "no provider configured (NEST_AI_BASE_URL)")")

        let alice = try Device.make("alice", "phone", root: root, port: port, workspace: workspace, token: tokens["alice"] ?? "")
        let bob = try Device.make("bob", "laptop", root: root, port: port, workspace: workspace, token: tokens["bob"] ?? "")
        let draft = try DocumentName(workspace: workspace, kind: .draft, id: "spring-launch")
        let brand = try DocumentName.brandKit(workspace: workspace)
        let calendar = try DocumentName.calendar(workspace: workspace)

        section("1. Alice creates a draft, the brand kit and a calendar entry, and syncs")
        try alice.edit(draft) { doc in
            let d = try Draft(name: draft, doc: doc)
            try d.create(title: "Spring launch")
            try d.replaceCaption("New colours are here.")
            try d.addHashtags(["spring", "launch"])
            try d.setPlatform(.instagram)
        }
        try alice.edit(brand) { doc in
            let b = try BrandKit(name: brand, doc: doc)
            try b.setTitle("Acme")
            try b.setColor(name: "primary", hex: "#FF5A5F")
            try b.addFont(family: "Inter", role: "heading")
        }
        let when = Date().addingTimeInterval(3 * 86400)
        let draftDoc = try alice.store.load(draft.description)
        let entry = try alice.edit(calendar) { doc in
            try ContentCalendar(name: calendar, doc: doc).schedule(draft: try Draft(name: draft, doc: draftDoc), platform: .instagram, at: when, timeZone: "Europe/Berlin")
        }
        try await alice.sync()

        section("2. Bob syncs and sees it")
        try await bob.sync()
        try bob.show(draft: draft, brand: brand, calendar: calendar)

        section("3. Both go offline and edit the same things")
        try alice.edit(draft) { doc in
            let d = try Draft(name: draft, doc: doc)
            try d.insertCaption("🌸 ", atCharacter: 0)
            try d.setTitle("Spring launch 🌸")
        }
        try alice.edit(brand) { doc in try BrandKit(name: brand, doc: doc).setColor(name: "primary", hex: "#E63946") }
        try bob.edit(draft) { doc in
            let d = try Draft(name: draft, doc: doc)
            try d.appendCaption(" Shop the collection.")
            try d.setTitle("Spring collection")
            try d.addHashtags(["newin"])
        }
        try bob.edit(brand) { doc in try BrandKit(name: brand, doc: doc).setColor(name: "primary", hex: "#0057B8") }
        try bob.edit(calendar) { doc in try ContentCalendar(name: calendar, doc: doc).move(entry, to: when.addingTimeInterval(86400)) }
        try alice.show(draft: draft, brand: brand, calendar: calendar)
        try bob.show(draft: draft, brand: brand, calendar: calendar)

        section("4. Back online: Alice syncs, then Bob, then Alice again")
        try await alice.sync()
        try await bob.sync()
        try await alice.sync()

        section("5. Merged — both devices show the same")
        try alice.show(draft: draft, brand: brand, calendar: calendar)
        try bob.show(draft: draft, brand: brand, calendar: calendar)
        let conflicts = try alice.store.read(draft.description) { ConflictLog.list($0) } + (try alice.store.read(brand.description) { ConflictLog.list($0) })
        print("conflict log (kept on every device; nothing was silently dropped):")
        for c in conflicts {
            print("  \(c.id)  \(c.path).\(c.key): kept \(c.winner) by \(c.winnerUser ?? "?"), overwritten \(c.loser) by \(c.loserUser ?? "?")")
        }
        guard let titleConflict = conflicts.first(where: { $0.key == "title" }) else {
            throw ValidationError("expected the concurrent title edits in the conflict log")
        }

        section("6. Alice resolves the title conflict by keeping the overwritten value; both sync")
        try alice.edit(draft) { doc in try ConflictLog.resolve(titleConflict.id, choice: .loser, by: "alice", in: doc) }
        try await alice.sync()
        try await bob.sync()
        try bob.show(draft: draft, brand: brand, calendar: calendar)

        for name in [draft, brand, calendar] {
            let a = try alice.store.read(name.description) { try $0.encodeStateAsUpdate() }
            let b = try bob.store.read(name.description) { try $0.encodeStateAsUpdate() }
            let ja = try Device.json(alice.store, name), jb = try Device.json(bob.store, name)
            guard ja == jb else { throw ValidationError("\(name) diverged between the devices") }
            print("✓ \(name): identical on both devices (\(a.count) / \(b.count) bytes of Yjs state)")
        }
        try await AIDemo.roundTrip(alice: alice, bob: bob, draft: draft, configured: AIDemo.providerDescription != nil)
        print("\nnothing pending: alice \(try alice.store.outboxSummary().pendingUpdates), bob \(try bob.store.outboxSummary().pendingUpdates); data in \(root)")
    }

    func section(_ title: String) { print("\n── \(title)") }
}

/// Step 7 of the demo: an AI request made offline, answered by the server, accepted on the other device.
enum AIDemo {
    /// The provider the environment names for the server (`scripts/run` starts a small local model and sets these).
    static var providerDescription: String? {
        let env = ProcessInfo.processInfo.environment
        guard let base = env["NEST_AI_BASE_URL"], !base.isEmpty else { return nil }
        return "\(env["NEST_AI_MODEL"] ?? "deepseek-chat") at \(base)" + (env["NEST_AI_NOTE"].map { " — \($0)" } ?? "")
    }

    static func roundTrip(alice: Device, bob: Device, draft: DocumentName, configured: Bool) async throws {
        print("\n── 7. AI: Alice asks for a caption while offline, syncs; the server answers; Bob accepts it")
        guard configured else {
            print("skipped: no AI provider configured. Set NEST_AI_BASE_URL (and NEST_AI_API_KEY, NEST_AI_MODEL), or run scripts/run, which starts a small local model.")
            return
        }
        let id = try alice.edit(draft) { doc in
            try Draft(name: draft, doc: doc).requestAI(kind: "caption", prompt: "a short, warm caption for our spring launch", by: "alice")
        }
        print("alice's phone (offline): requested a caption as \(id); \(try alice.store.outboxSummary().pendingUpdates) edit pending")
        try await alice.sync()
        let deadline = Date().addingTimeInterval(180)
        var request: AIRequest?
        var polls = 0
        while Date() < deadline {
            try await bob.quietSync()
            request = try bob.store.read(draft.description) { try Draft(name: draft, doc: $0).aiRequest(id) }
            if let s = request?.aiStatus, s == .ready || s == .failed { break }
            polls += 1
            if polls % 10 == 0 { print("  waiting for the server's answer (\(request?.status ?? "?"))...") }
            try await Task.sleep(for: .milliseconds(500))
        }
        guard let answered = request, answered.aiStatus == .ready || answered.aiStatus == .failed else {
            throw ValidationError("the server did not answer the AI request within 3 minutes")
        }
        print("bob's laptop synced and sees the request \(answered.status) (answered by \(answered.model ?? "?")\(answered.note.map { "; \($0)" } ?? ""))")
        guard answered.aiStatus == .ready, let text = answered.result else {
            print("the provider failed: \(answered.error ?? "no reason")")
            return
        }
        print("  suggestion: \(text)")
        for f in answered.flags { print("  ⚠ breaks: \(f)") }
        try bob.edit(draft) { doc in try Draft(name: draft, doc: doc).acceptAI(id) }
        print("bob accepts it")
        try await bob.sync()
        try await alice.sync()
        let caption = try alice.store.read(draft.description) { try Draft(name: draft, doc: $0).caption.toString() }
        let status = try alice.store.read(draft.description) { try Draft(name: draft, doc: $0).aiRequest(id)?.status ?? "?" }
        guard caption == text else { throw ValidationError("alice's caption is not the accepted suggestion") }
        print("alice's phone synced: caption is now the suggestion, request \(status)")
    }
}

/// One simulated device: a local store logged in as a user.
struct Device {
    let user: String
    let label: String
    let store: LocalStore

    static func make(_ user: String, _ label: String, root: String, port: Int, workspace: String, token: String) throws -> Device {
        let store = try LocalStore(directory: (root as NSString).appendingPathComponent("\(user)-\(label)"))
        try store.saveProfile(Profile(server: "http://127.0.0.1:\(port)", token: token, user: user))
        try store.setMeta(["workspace": workspace])
        return Device(user: user, label: label, store: store)
    }

    @discardableResult
    func edit<R>(_ name: DocumentName, _ body: (Doc) throws -> R) throws -> R {
        try store.edit(name.description, user: user, body)
    }

    func sync() async throws {
        let r = try await SyncEngine(store: store).run(SyncOptions(mode: .once, timeout: 30))
        var line = "\(user)'s \(label) synced: sent \(Output.count(r.editsAcked, "edit")), received \(Output.count(r.remoteUpdates, "update"))"
        if r.conflictsRecorded > 0 { line += ", \(Output.count(r.conflictsRecorded, "concurrent overwrite")) recorded in conflict logs" }
        print(line + (r.complete && r.pendingAfter == 0 ? " — all acknowledged" : " — \(r.pendingAfter) still pending"))
        guard r.complete else { throw ValidationError("\(user)'s sync did not complete") }
    }

    /// A sync that prints nothing (for polling).
    func quietSync() async throws {
        _ = try await SyncEngine(store: store).run(SyncOptions(mode: .once, timeout: 30))
    }

    func show(draft: DocumentName, brand: DocumentName, calendar: DocumentName) throws {
        let d = try store.read(draft.description) { try Draft(name: draft, doc: $0).value }
        let b = try store.read(brand.description) { try BrandKit(name: brand, doc: $0).value }
        let entries = try store.read(calendar.description) { try ContentCalendar(name: calendar, doc: $0).entries }
        let pending = try store.outboxSummary().pendingUpdates
        print("\(user)'s \(label): title \"\(d.title)\", caption \"\(d.caption)\" \(d.hashtags.map { "#\($0)" }.joined(separator: " "))")
        print("\(String(repeating: " ", count: user.count + label.count + 4))primary \(b.colors.first { $0.id == "primary" }?.hex ?? "-"), "
              + "posts: \(entries.map { "\($0.platform.rawValue) \($0.localTime)" }.joined(separator: ", ")), pending edits: \(pending)")
    }

    static func json(_ store: LocalStore, _ name: DocumentName) throws -> String {
        try store.read(name.description) { doc in
            JSONText.stringify(.object(doc.rootNames.filter { $0 != "conflicts" && $0 != "authors" }.map { ($0, DocCommand.Export.json(of: doc, root: $0)) }))
        }
    }
}
