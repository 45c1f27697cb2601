import CRDT
import Foundation
import Model
import SyncClient
import TestHarness
import TestBasics
import Testing

func tempDirectory(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("nest-client-\(name)-\(UUID().uuidString)").path
}

@Suite("Local store: durable edits, outbox, compaction")
struct LocalStoreTests {
    let name = "w1/draft/d1"

    @Test("an edit is in the document and the outbox after reopening; a failed edit stores nothing")
    func durableEdit() throws {
        let dir = tempDirectory("durable")
        do {
            let store = try LocalStore(directory: dir)
            try store.edit(name, user: "alice") { doc in try Draft(name: try DocumentName(parsing: name), doc: doc).create(title: "One") }
            #expect(throws: ModelError.self) {
                try store.edit(name, user: "alice") { doc in
                    let d = try Draft(name: try DocumentName(parsing: name), doc: doc)
                    try d.appendCaption("half-done ")
                    try d.setTitle("")
                }
            }
        }
        let store = try LocalStore(directory: dir)
        let doc = try store.load(name)
        #expect(try Draft(name: try DocumentName(parsing: name), doc: doc).title == "One")
        #expect(doc.getText("caption").toString() == "", "the failed edit's first half was stored")
        let pending = try store.pending()
        #expect(pending.count == 1 && pending[0].document == name)
        #expect(ModelSchema.author(of: doc.stateVector.keys.first ?? 0, in: doc) == "alice")
    }

    @Test("acks drop outbox entries; refusals are kept, reported and never pending again")
    func outbox() throws {
        let store = try LocalStore(directory: tempDirectory("outbox"))
        for i in 0..<5 { try store.edit(name, user: "u") { try $0.getText("caption").insert(0, "\(i)") } }
        try store.edit("w1/draft/d2", user: "u") { try $0.getText("caption").insert(0, "x") }
        let seqs = try store.pending(document: name).map(\.seq)
        try store.acknowledge(name, through: seqs[2])
        #expect(try store.pending(document: name).map(\.seq) == Array(seqs[3...]))
        try store.refuse(name, through: seqs[4], code: "read_only", text: "viewer")
        #expect(try store.pending(document: name).isEmpty)
        #expect(try store.refused().map(\.code) == ["read_only", "read_only"])
        let summary = try store.outboxSummary()
        #expect(summary.pendingUpdates == 1 && summary.pendingDocuments == 1 && summary.refused == 2)
        let caption = try store.load(name).getText("caption").toString()
        #expect(caption == "43210", "a refused edit stays visible locally: \(caption)")
    }

    @Test("two handles on one directory (two processes) edit concurrently: nothing lost, one client id")
    func concurrentHandles() async throws {
        let dir = tempDirectory("concurrent")
        let a = try LocalStore(directory: dir), b = try LocalStore(directory: dir)
        await withTaskGroup(of: Void.self) { group in
            for (tag, store) in [("a", a), ("b", b)] {
                group.addTask {
                    for i in 0..<40 {
                        try? store.edit(name, user: tag) { doc in
                            let t = doc.getText("caption")
                            try t.insert(t.length, "<\(tag)\(i)>")
                        }
                    }
                }
            }
        }
        let doc = try a.load(name)
        let text = doc.getText("caption").toString()
        for tag in ["a", "b"] { for i in 0..<40 { #expect(text.contains("<\(tag)\(i)>"), "lost <\(tag)\(i)>") } }
        #expect(doc.stateVector.count == 1, "edits of one directory share its client id: \(doc.stateVector)")
        #expect(try a.pending().count == 80)
    }

    @Test("randomized: compaction at any point keeps exactly the edited state", arguments: 0..<12)
    func compaction(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) &+ 500)
        let store = try LocalStore(directory: tempDirectory("compact"))
        let reference = Doc(clientID: 1)
        let remote = Doc(clientID: 2)
        var remoteUpdates: [[UInt8]] = []
        remote.onUpdate { u, _ in remoteUpdates.append(u) }
        for step in 0..<150 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let pos = Int.random(in: 0...reference.getText("caption").length, using: &rng)
                let s = String(Int.random(in: 0..<1000, using: &rng))
                try store.edit(name, user: "u") { try $0.getText("caption").insert(pos, s) }
                try reference.getText("caption").insert(pos, s)
            case 5..<7:
                let len = reference.getText("caption").length
                guard len > 0 else { continue }
                let pos = Int.random(in: 0..<len, using: &rng), n = min(len - pos, Int.random(in: 1...4, using: &rng))
                try store.edit(name, user: "u") { try $0.getText("caption").delete(pos, count: n) }
                try reference.getText("caption").delete(pos, count: n)
            case 7..<9:
                try remote.getMap("draft").set("k\(step % 5)", .integer(Int64(step)))
                let u = remoteUpdates.removeLast()
                try store.commitRemote(name, updates: [u], serverSeq: step)
                try reference.applyUpdate(u)
            default:
                try store.compact(name)
            }
            if step % 25 == 0 || step == 149 {
                let loaded = try store.load(name)
                #expect(loaded.getText("caption").toString() == reference.getText("caption").toString(), "seed \(seed) step \(step)")
                #expect(JSONText.stringify(loaded.getMap("draft").toJSON()) == JSONText.stringify(reference.getMap("draft").toJSON()), "seed \(seed) step \(step)")
            }
        }
    }

    @Test("a damaged stored update is reported as a corrupt document, not a crash")
    func corrupt() throws {
        let store = try LocalStore(directory: tempDirectory("corrupt"))
        try store.commitRemote(name, updates: [[1, 2, 3, 250, 250]], serverSeq: nil)
        #expect(throws: ClientError.self) { try store.load(name) }
        #expect(throws: ClientError.self) { try store.edit(name, user: "u") { _ in } }
    }

    @Test("profile: claims are read from the token; a different server restarts the catalog")
    func profile() throws {
        let store = try LocalStore(directory: tempDirectory("profile"))
        #expect(try store.profile() == nil)
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
        let token = b64(#"{"alg":"HS256"}"#) + "." + b64(#"{"sub":"alice","exp":4102444800}"#) + ".sig"
        let claims = try Profile.claims(of: token)
        #expect(claims.user == "alice" && claims.expires == Date(timeIntervalSince1970: 4_102_444_800))
        #expect(throws: ClientError.self) { try Profile.claims(of: "garbage") }
        try store.saveProfile(Profile(server: "http://a:1", token: token, user: "alice"))
        try store.setMeta(["catalog_cursor": "42"])
        try store.saveProfile(Profile(server: "http://a:1", token: token, user: "alice"))
        #expect(try store.meta("catalog_cursor") == "42")
        try store.saveProfile(Profile(server: "http://b:2", token: token, user: "alice"))
        #expect(try store.meta("catalog_cursor") == "0")
        #expect(Profile(server: "https://x.example/", token: "", user: "").syncURL == "wss://x.example/v1/sync")
    }

    @Test("backoff grows exponentially with jitter, is capped, honours hints and resets")
    func backoff() {
        var b = Backoff(base: 0.5, cap: 8)
        let delays = (0..<8).map { _ in b.next() }
        for (i, d) in delays.enumerated() {
            let ceiling = min(8, 0.5 * Double(1 << i))
            #expect(d >= ceiling / 2 && d <= ceiling, "attempt \(i): \(d)")
        }
        let hinted = (0..<50).map { _ in b.next(atLeast: 10) }
        #expect(hinted.allSatisfy { $0 >= 10 && $0 <= 20 })
        #expect(Set(hinted).count > 1, "hinted waits must be jittered")
        b.reset()
        #expect(b.next() <= 0.5)
    }
}
