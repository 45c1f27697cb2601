import Testing
import TestBasics
import CRDT

/// The public editing and observing API.
@Suite("API")
struct APITests {
    @Test("Swift Character positions convert to UTF-16 and never split a surrogate pair")
    func characterPositions() throws {
        let doc = Doc(clientID: 1)
        let t = doc.getText("t")
        try t.insert(0, "a😀b👍🏽c")
        #expect(t.length == 9)
        #expect(try t.utf16Offset(ofCharacter: 2) == 3)
        try t.insert(atCharacter: 2, "X")
        #expect(t.toString() == "a😀Xb👍🏽c")
        try t.delete(atCharacter: 1, count: 1)
        #expect(t.toString() == "aXb👍🏽c")
        do {
            try t.insert(4, "!")
            Issue.record("split a surrogate pair")
        } catch {
            #expect(error.code == .surrogateSplit)
        }
        #expect(throws: CRDTError.self) { try t.delete(4, count: 2) }
        #expect(throws: CRDTError.self) { try t.delete(2, count: 2) }
        #expect(throws: CRDTError.self) { try t.insert(99, "x") }
        #expect(t.toString() == "aXb👍🏽c")
    }

    @Test("applyDelta and toDelta round-trip formatting and embeds")
    func deltas() throws {
        let doc = Doc(clientID: 1)
        let t = doc.getText("t")
        try t.applyDelta([
            TextDelta(.insert("Hello"), attributes: [("bold", true)]), TextDelta(.insert(" world")),
            TextDelta(.insertEmbed(["image": "a.png"])),
        ])
        try t.applyDelta([TextDelta(.retain(6)), TextDelta(.retain(5), attributes: [("italic", true)]), TextDelta(.delete(1))])
        let d = t.toDelta()
        #expect(d == [
            TextDelta(.insert("Hello"), attributes: [("bold", true)]), TextDelta(.insert(" ")),
            TextDelta(.insert("world"), attributes: [("italic", true)]),
        ])
        #expect(throws: CRDTError.self) { try t.applyDelta([TextDelta(.retain(100), attributes: [("x", 1)])]) }
        #expect(t.toString() == "Hello world")
        // Another replica reads the same delta from the update.
        let other = Doc(clientID: 2)
        try other.applyUpdate(try doc.encodeStateAsUpdate())
        #expect(other.getText("t").toDelta() == d)
    }

    @Test("observers see keys, sequence deltas and deep events; update handlers get v1 bytes")
    func observers() throws {
        let doc = Doc(clientID: 1)
        let map = doc.getMap("m")
        let array = doc.getArray("a")
        var mapKeys: [Set<String>] = []
        var arrayDeltas: [[TextDelta]] = []
        var deep: [[PathSegment]] = []
        var updates: [[UInt8]] = []
        map.observe { mapKeys.append($0.keysChanged) }
        array.observe { arrayDeltas.append($0.delta) }
        array.observeDeep { events in deep.append(contentsOf: events.map(\.path)) }
        doc.onUpdate { u, _ in updates.append(u) }
        try doc.transact { _ in
            try map.set("a", 1)
            try map.set("b", "x")
        }
        try array.insert(0, [.value("x"), .map([("k", .value(1))])])
        if case .map(let nested)? = array.get(1) { try nested.set("k", 2) }
        try array.delete(0, count: 1)
        #expect(mapKeys == [["a", "b"]])
        #expect(arrayDeltas.count == 2)
        #expect(arrayDeltas.last == [TextDelta(.delete(1))])
        #expect(deep.contains([.key("a"), .index(1)]))
        #expect(updates.count == 4)
        let replay = Doc(clientID: 3)
        for u in updates { try replay.applyUpdate(u) }
        #expect(replay.getArray("a").toJSON() == doc.getArray("a").toJSON())
        #expect(replay.getMap("m").toJSON() == ["a": 1, "b": "x"])
    }

    @Test("an observer added after unobserved edits sees the next ones, local and remote")
    func lateObserver() throws {
        let doc = Doc(clientID: 1), peer = Doc(clientID: 2)
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        let text = doc.getText("t")
        try text.insert(0, "abc")
        try doc.getMap("m").set("k", .integer(1))
        for u in updates { try peer.applyUpdate(u) }
        var deltas: [[TextDelta]] = []
        var keys: [Set<String>] = []
        text.observe { deltas.append($0.delta) }
        peer.getMap("m").observe { keys.append($0.keysChanged) }
        // Typing right after the item written before the observer existed: the event still names the new unit.
        try text.insert(3, "d")
        #expect(deltas == [[TextDelta(.retain(3)), TextDelta(.insert("d"))]])
        try doc.getMap("m").set("k", .integer(2))
        try peer.applyUpdate(updates[updates.count - 1])
        #expect(keys == [["k"]])
    }

    @Test("a concurrent set of one map key reports winner, loser and both clients on each replica")
    func conflicts() throws {
        let a = Doc(clientID: 10)
        let b = Doc(clientID: 20)
        try a.getMap("draft").set("title", "from a")
        try b.getMap("draft").set("title", "from b")
        var seen: [MapConflict] = []
        a.onAfterTransaction { seen += $0.conflicts }
        b.onAfterTransaction { seen += $0.conflicts }
        // Both went offline with their own value; each receives the other's edit.
        let fromA = try a.encodeStateAsUpdate()
        let fromB = try b.encodeStateAsUpdate()
        try a.applyUpdate(fromB)
        try b.applyUpdate(fromA)
        #expect(a.getMap("draft").toJSON() == b.getMap("draft").toJSON())
        #expect(seen.count == 2)
        for c in seen {
            #expect(c.key == "title")
            #expect(c.path == [.key("draft")])
            #expect(c.winner == "from b" && c.winnerClient == 20)
            #expect(c.loser == "from a" && c.loserClient == 10)
        }
        // A sequential overwrite (the author saw the old value) is no conflict.
        seen.removeAll()
        try a.getMap("draft").set("title", "edited")
        try b.applyUpdate(try a.encodeStateAsUpdate(since: b.encodeStateVector()))
        #expect(seen.isEmpty)
    }

    @Test("gc: false keeps deleted content; gc: true drops it but both encode loadable state")
    func garbageCollection() throws {
        for gc in [true, false] {
            let doc = Doc(clientID: 1, gc: gc)
            let t = doc.getText("t")
            try t.insert(0, "hello world")
            try t.delete(0, count: 6)
            let state = try doc.encodeStateAsUpdate()
            let text = String(decoding: state, as: UTF8.self)
            #expect(text.contains("hello") == !gc, "gc \(gc)")
            let other = Doc(clientID: 2)
            try other.applyUpdate(state)
            #expect(other.getText("t").toString() == "world")
        }
    }

    @Test("diff and merge without a document agree with the document (seeded)", arguments: [7, 8, 9] as [UInt64])
    func diffMerge(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let doc = Doc(clientID: 4)
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        for _ in 0..<40 { try ConvergenceTests.randomEdit(doc, &rng) }
        let merged = try Updates.merge(updates)
        let fromMerge = Doc(clientID: 5)
        try fromMerge.applyUpdate(merged)
        #expect(ConvergenceTests.snapshot(fromMerge) == ConvergenceTests.snapshot(doc), "seed \(seed)")
        #expect(try Updates.stateVector(of: merged) == doc.encodeStateVector())
        // A peer holding the first half gets the rest from a diff of the merged update.
        let half = Doc(clientID: 6)
        for u in updates.prefix(updates.count / 2) { try half.applyUpdate(u) }
        try half.applyUpdate(try Updates.diff(merged, stateVector: half.encodeStateVector()))
        #expect(ConvergenceTests.snapshot(half) == ConvergenceTests.snapshot(doc), "seed \(seed)")
    }

    @Test("a handle keeps its document alive: reading through a temporary Doc sees the content")
    func handleOutlivesDocVariable() throws {
        func loaded() throws -> Doc {
            let d = Doc(clientID: 9)
            try d.getText("t").insert(0, "kept")
            try d.getMap("m").set("k", .string("v"))
            return Doc(clientID: 10).applying(try d.encodeStateAsUpdate())
        }
        #expect(try loaded().getText("t").toString() == "kept")
        #expect(try loaded().getMap("m").get("k") as YAny? == .string("v"))
        let text = try loaded().getText("t")
        #expect(text.toString() == "kept")
    }

    @Test("a transaction a handler keeps is never reused for a later one")
    func keptTransactionsStayIntact() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t")
        var kept: [Transaction] = []
        doc.onAfterTransaction { kept.append($0) }
        try doc.transact(origin: "first") { _ in try text.insert(0, "ab") }
        doc.transact(origin: "second") { _ in }
        let remote = Doc(clientID: 2)
        try remote.getText("t").insert(0, "xy")
        try doc.applyUpdate(try remote.encodeStateAsUpdate(), origin: "third")
        try doc.transact(origin: "fourth") { _ in try text.delete(0, count: 1) }
        #expect(kept.map { $0.origin as? String } == ["first", "second", "third", "fourth"])
        #expect(kept.map(\.changedDocument) == [true, false, true, true])
        #expect(kept.map(\.local) == [true, true, false, true])
        #expect(Set(kept.map(ObjectIdentifier.init)).count == 4)
    }

    @Test("transactions nobody keeps are reused, and each starts empty")
    func reusedTransactionsStartEmpty() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t")
        var seen: [(String?, Bool, Bool)] = []
        doc.onAfterTransaction { seen.append(($0.origin as? String, $0.changedDocument, $0.local)) }
        var events: [[TextDelta]] = []
        text.observe { events.append($0.delta) }
        try doc.transact(origin: "a") { _ in try text.insert(0, "hello") }
        doc.transact(origin: nil) { _ in }
        try doc.transact(origin: "c") { _ in try text.delete(0, count: 2) }
        #expect(seen.map(\.0) == ["a", nil, "c"])
        #expect(seen.map(\.1) == [true, false, true])
        #expect(events == [[TextDelta(.insert("hello"))], [TextDelta(.delete(2))]])
    }
}

extension Doc {
    /// Applies `update` (which must be valid) and returns the document, for one-expression setups.
    func applying(_ update: [UInt8]) -> Doc {
        try? applyUpdate(update)
        return self
    }
}
