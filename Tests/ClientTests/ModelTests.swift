import CRDT
import Foundation
import Model
import TestHarness
import TestBasics
import Testing

/// Applies every update of `from` that `to` lacks.
func exchange(_ from: Doc, _ to: Doc) throws {
    try to.applyUpdate(try from.encodeStateAsUpdate(since: to.encodeStateVector()))
}

/// A replica that records conflicts from applied remote updates, as the sync client does.
func applyRecording(_ update: [UInt8], to doc: Doc) throws {
    var found: [MapConflict] = []
    let h = doc.onAfterTransaction { txn in if !txn.local { found += txn.conflicts } }
    defer { doc.removeHandler(h) }
    try doc.applyUpdate(update)
    try ConflictLog.record(found, in: doc)
}

@Suite("Model: typed documents, validation, conflict log")
struct ModelTests {
    let draftName: DocumentName

    init() throws {
        draftName = try DocumentName(parsing: "w1/draft/d1")
    }
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("document names parse and refuse bad parts")
    func names() throws {
        let n = try DocumentName(parsing: "acme/calendar/main")
        #expect(n.workspace == "acme" && n.kind == .calendar && n.id == "main")
        #expect(try DocumentName(parsing: "w1/draft/abc").kind == .draft)
        #expect(try DocumentName(parsing: "a.b-c_d/brandkit/" + String(repeating: "x", count: 128)).id.count == 128)
        for bad in ["", "acme/post/x", "acme/draft", "/draft/x", "acme//x", "acme/draft/a b", "acme/draft/..", "acme/draft/.x", "acme/draft/_x",
                    "_w/draft/x", "-w/draft/x", "a/draft/x/y", "acme/draft/\u{e9}", "acme/draft/" + String(repeating: "x", count: 129)] {
            #expect(throws: ModelError.self, "\(bad)") { try DocumentName(parsing: bad) }
        }
    }

    @Test("validation refuses bad input with typed errors and changes nothing")
    func validation() throws {
        let doc = Doc(clientID: 1)
        let d = try Draft(name: draftName, doc: doc)
        try d.create(title: "Launch", now: now)
        let before = try doc.encodeStateAsUpdate()
        #expect(throws: ModelError.invalidTitle("it is empty")) { try d.setTitle("   ") }
        #expect(throws: ModelError.self) { try d.setTitle(String(repeating: "a", count: 201)) }
        #expect(throws: ModelError.invalidHashtag("two words")) { try d.addHashtags(["ok", "two words"]) }
        #expect(throws: ModelError.self) { try d.insertCaption("x", atCharacter: 5) }
        #expect(throws: ModelError.unknownStatus("done")) { try DraftStatus(name: "done") }
        #expect(throws: ModelError.self) { _ = try d.requestAI(kind: "poem", prompt: "x", by: "u") }
        #expect(throws: ModelError.self) { _ = try d.requestAI(kind: "caption", prompt: "  ", by: "u") }
        #expect(try doc.encodeStateAsUpdate() == before, "a refused edit changed the document")

        #expect(try BrandKit.validHex("#abc") == "#AABBCC")
        #expect(try BrandKit.validHex("00ff7f") == "#00FF7F")
        for bad in ["#GGG", "12345", "", "#1234567", "red"] {
            #expect(throws: ModelError.invalidHexColor(bad)) { try BrandKit.validHex(bad) }
        }
        #expect(try Platform(name: "Twitter") == .x)
        #expect(try Platform(name: "LinkedIn") == .linkedin)
        #expect(throws: ModelError.unknownPlatform("myspace")) { try Platform(name: "myspace") }
    }

    @Test("platform rules come from one table and are checked when scheduling")
    func platformRules() throws {
        let doc = Doc(clientID: 2)
        let d = try Draft(name: draftName, doc: doc)
        try d.create(title: "Long", now: now)
        try d.replaceCaption(String(repeating: "é", count: 279))
        #expect(d.problems(on: .x).isEmpty, "279 characters fit on X (counted as characters, not UTF-16)")
        try d.addHashtags(["a"])
        #expect(d.problems(on: .x).count == 1, "\(d.problems(on: .x))")
        #expect(d.problems(on: .instagram).isEmpty)
        try d.addHashtags(["b"])
        #expect(d.problems(on: .threads).contains { $0.contains("2 hashtags") })
        try d.addMedia(asset: "a.jpg", kind: .image, alt: "")
        #expect(d.problems(on: .tiktok).contains { $0.contains("image media") })

        let cal = try ContentCalendar(name: try .calendar(workspace: "w1"), doc: Doc(clientID: 3))
        let later = now.addingTimeInterval(3600)
        #expect(throws: ModelError.self) { try cal.schedule(draft: d, platform: .x, at: later, timeZone: "UTC", now: now) }
        #expect(throws: ModelError.unknownTimeZone("Mars/Olympus")) { try cal.schedule(draft: d, platform: .instagram, at: later, timeZone: "Mars/Olympus", now: now) }
        #expect(throws: ModelError.self) { try cal.schedule(draft: d, platform: .instagram, at: now.addingTimeInterval(-60), timeZone: "UTC", now: now) }
        #expect(cal.entries.isEmpty)
        let id = try cal.schedule(draft: d, platform: .instagram, at: later, timeZone: "Asia/Tokyo", now: now)
        let e = try #require(cal.entry(id))
        #expect(e.scheduledAt == "2027-01-15T09:00:00Z")
        #expect(e.localTime == "2027-01-15 18:00 Asia/Tokyo")
        try cal.move(id, to: later.addingTimeInterval(86400), now: now)
        #expect(cal.entry(id)?.scheduledAt == "2027-01-16T09:00:00Z")
        try cal.cancel(id)
        #expect(cal.entry(id)?.status == .cancelled)
        #expect(throws: ModelError.unknownEntry("nope")) { try cal.cancel("nope") }
    }

    @Test("schema version: new documents get it, later versions and wrong kinds are refused")
    func schema() throws {
        let doc = Doc(clientID: 4)
        _ = try Draft(name: draftName, doc: doc)
        #expect(ModelSchema.version(of: doc) == ModelSchema.current)
        #expect(throws: ModelError.wrongKind(expected: .brandkit, found: "draft")) { try BrandKit(name: try .brandKit(workspace: "w1"), doc: doc) }
        let future = Doc(clientID: 5)
        try future.getMap("meta").set("schema", .integer(2))
        #expect(throws: ModelError.newerSchema(found: 2, supported: 1)) { try Draft(name: draftName, doc: future) }
        #expect(ModelSchema.version(of: future) == 2, "a newer document is not rewritten")
    }

    @Test("values export as JSON and read back equal")
    func jsonExport() throws {
        let d = try Draft(name: draftName, doc: Doc(clientID: 6))
        try d.create(title: "Spring 🌸", now: now)
        try d.replaceCaption("Hello\nworld")
        try d.addHashtags(["#spring", "launch"])
        try d.setPlatform(.linkedin, caption: "Pro version")
        try d.addComment(author: "bob", text: "nice", now: now)
        _ = try d.requestAI(kind: "caption", prompt: "shorter", by: "bob", now: now)
        let v = d.value
        #expect(v.hashtags == ["spring", "launch"])
        #expect(v.platforms["linkedin"]?.caption == "Pro version")
        let data = try JSONEncoder().encode(v)
        #expect(try JSONDecoder().decode(DraftValue.self, from: data) == v)
    }

    @Test("concurrent overwrites land in the conflict log on both replicas, with the same ids, and resolve")
    func conflictLog() throws {
        let a = Doc(clientID: 10), b = Doc(clientID: 20)
        let da = try Draft(name: draftName, doc: a)
        try da.create(title: "Base", now: now)
        try exchange(a, b)
        let db = try Draft(name: draftName, doc: b)
        ModelSchema.recordAuthor(a, user: "alice")
        ModelSchema.recordAuthor(b, user: "bob")
        try da.setTitle("From A")
        try db.setTitle("From B")
        try applyRecording(try b.encodeStateAsUpdate(since: a.encodeStateVector()), to: a)
        try applyRecording(try a.encodeStateAsUpdate(since: b.encodeStateVector()), to: b)
        try exchange(a, b)
        try exchange(b, a)
        let la = ConflictLog.list(a), lb = ConflictLog.list(b)
        #expect(la.count == 1 && la.map(\.id) == lb.map(\.id), "\(la) \(lb)")
        let c = try #require(la.first)
        #expect(da.title == db.title)
        #expect(c.winner == "\"\(da.title)\"")
        #expect(Set([c.winner, c.loser]) == ["\"From A\"", "\"From B\""])
        #expect(Set([c.winnerUser, c.loserUser]) == ["alice", "bob"])
        #expect(c.path == "draft" && c.key == "title" && c.isOpen)

        try ConflictLog.resolve(c.id, choice: .loser, by: "alice", in: a)
        try exchange(a, b)
        let expected = c.loser.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        #expect(db.title == expected && da.title == expected)
        #expect(ConflictLog.list(b).first?.status == "resolved")
        #expect(ConflictLog.list(b).first?.resolvedBy == "alice")
        #expect(throws: ModelError.unknownConflict("missing")) { try ConflictLog.resolve("missing", choice: .winner, by: "x", in: a) }
    }

    @Test("randomized: replicas setting the same keys offline converge on values and on one conflict log", arguments: 0..<25)
    func conflictLogProperty(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &+ 9_000)
        let replicas = (0..<Int.random(in: 2...4, using: &rng)).map { Doc(clientID: 100 + $0) }
        let kit = try DocumentName.brandKit(workspace: "w1")
        let kits = try replicas.map { try BrandKit(name: kit, doc: $0) }
        for r in replicas.dropFirst() { try exchange(replicas[0], r) }
        var written = Set<String>()
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            for k in kits {
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let name = ["primary", "accent", "ink"].randomElement(using: &rng) ?? "primary"
                    let hex = String(format: "#%06X", Int.random(in: 0...0xFFFFFF, using: &rng))
                    try k.setColor(name: name, hex: hex)
                    written.insert(hex)
                }
            }
            // Random pairwise delivery with conflict recording, then full quiescence.
            for _ in 0..<replicas.count * 2 {
                let from = replicas.randomElement(using: &rng) ?? replicas[0], to = replicas.randomElement(using: &rng) ?? replicas[0]
                if from !== to { try applyRecording(try from.encodeStateAsUpdate(since: to.encodeStateVector()), to: to) }
            }
            for _ in 0..<2 { for x in replicas { for y in replicas where x !== y { try applyRecording(try x.encodeStateAsUpdate(since: y.encodeStateVector()), to: y) } } }
        }
        let logs = replicas.map { ConflictLog.list($0).map(\.id).sorted() }
        let values = kits.map { $0.value.colors.map(\.hex) }
        #expect(Set(logs.map { $0.joined(separator: ",") }).count == 1, "seed \(seed): conflict logs differ")
        #expect(Set(values.map { $0.joined(separator: ",") }).count == 1, "seed \(seed): values differ")
        for c in ConflictLog.list(replicas[0]) {
            let loser = try JSONText.parse(c.loser)
            #expect(loser["hex"]?.stringValue.map(written.contains) == true, "seed \(seed): conflict names a value nobody wrote: \(c.loser)")
            #expect(c.winnerClient != c.loserClient, "seed \(seed)")
        }
    }
}

