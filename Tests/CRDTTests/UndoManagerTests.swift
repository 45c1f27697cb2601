import Foundation
import Testing
import TestBasics
@testable import CRDT

/// The undo manager must leave a document exactly as Yjs' does: random edit
/// histories with undo, redo and concurrent remote edits run through both,
/// and every step's full state is compared.
@Suite("undo manager")
struct UndoManagerTests {
    @Test("undo and redo of text, map and array edits")
    func basics() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t"), map = doc.getMap("m")
        let um = UndoManager(doc, scope: [.text(text), .map(map)], captureTimeout: .seconds(3600))
        try text.insert(0, "hello")
        um.stopCapturing()
        try text.insert(5, " world")
        try map.set("k", .string("v1"))
        #expect(text.toString() == "hello world" && um.canUndo && !um.canRedo)
        #expect(um.undo())
        // " world" and the map entry were captured together.
        #expect(text.toString() == "hello" && map.get("k") as YAny? == nil && um.canRedo)
        #expect(um.undo())
        #expect(text.toString() == "" && !um.canUndo)
        #expect(!um.undo())
        #expect(um.redo() && um.redo())
        #expect(text.toString() == "hello world")
        if case .string(let v)? = map.get("k") as YAny? { #expect(v == "v1") } else { Issue.record("map entry not redone") }
        // A new change clears the redo stack.
        #expect(um.undo())
        try text.insert(0, ">")
        #expect(!um.canRedo && text.toString() == ">hello")
    }

    @Test("undo restores deleted text even after garbage collection ran, and leaves remote edits alone")
    func deletesAndRemote() throws {
        let doc = Doc(clientID: 1), other = Doc(clientID: 2)
        let text = doc.getText("t")
        let um = UndoManager(doc, scope: [.text(text)], captureTimeout: .zero)
        try text.insert(0, "abcdef")
        try text.delete(1, count: 3)
        #expect(text.toString() == "aef")
        try other.applyUpdate(doc.encodeStateAsUpdate(since: [:]))
        try other.getText("t").insert(3, "XY")
        try doc.applyUpdate(other.encodeStateAsUpdate(since: doc.encodeStateVector()), origin: "remote")
        #expect(text.toString() == "aefXY")
        #expect(um.undo())
        #expect(text.toString() == "abcdefXY")
        #expect(um.undo())
        #expect(text.toString() == "XY")
        #expect(um.redo() && um.redo())
        #expect(text.toString() == "aefXY")
    }

    @Test("stack items carry the application's metadata from push to pop, on the right stacks")
    func stackEvents() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t")
        let um = UndoManager(doc, scope: [.text(text)], captureTimeout: .seconds(3600))
        var log: [String] = []
        var cursor = 0
        um.onStackItemAdded = { item, stack, _ in
            item.meta["cursor"] = cursor
            log.append("added \(stack)")
        }
        um.onStackItemUpdated = { _, stack, _ in log.append("updated \(stack)") }
        um.onStackItemPopped = { item, stack in
            cursor = item.meta["cursor"] as? Int ?? -1
            log.append("popped \(stack)")
        }
        cursor = 0
        try text.insert(0, "ab")
        cursor = 2
        try text.insert(2, "cd")
        um.stopCapturing()
        cursor = 4
        try text.insert(4, "ef")
        #expect(log == ["added undo", "updated undo", "added undo"])
        cursor = 99
        #expect(um.undo())
        #expect(cursor == 4 && text.toString() == "abcd")
        #expect(um.undo())
        #expect(cursor == 0 && text.toString() == "")
        #expect(um.redo())
        #expect(log == ["added undo", "updated undo", "added undo", "added redo", "popped undo", "added redo", "popped undo",
                        "added undo", "popped redo"])
    }

    @Test("undo and redo inside an XML fragment: elements, attributes and text")
    func xml() throws {
        let doc = Doc(clientID: 1)
        let x = doc.getXmlFragment("x")
        let um = UndoManager(doc, scope: [.xmlFragment(x)], captureTimeout: .zero)
        try x.insert(0, [.element("p", attributes: [("class", .string("a"))], children: [.text("hi")])])
        guard case .element(let p)? = x.get(0), case .text(let hi)? = p.get(0) else { Issue.record("no paragraph"); return }
        try p.setAttribute("class", .string("b"))
        try hi.text.insert(2, "!")
        try x.delete(0)
        #expect(x.toString() == "")
        #expect(um.undo())
        #expect(x.toString() == #"<p class="b">hi!</p>"#)
        #expect(um.undo() && um.undo())
        #expect(x.toString() == #"<p class="a">hi</p>"#)
        #expect(um.redo() && um.redo())
        #expect(x.toString() == #"<p class="b">hi!</p>"#)
    }

    @Test("only tracked origins are captured")
    func origins() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t")
        let um = UndoManager(doc, scope: [.text(text)], captureTimeout: .zero, trackedOrigins: ["editor"])
        try doc.transact(origin: "import") { _ in try text.insert(0, "imported ") }
        #expect(!um.canUndo)
        try doc.transact(origin: "editor") { _ in try text.insert(9, "typed") }
        #expect(um.undo() && text.toString() == "imported ")
    }

    @Test("random histories with undo, redo and remote edits end as in Yjs", arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func differential(seed: UInt64) async throws {
        var cases: [YAny] = []
        var ours: [[(state: String, canUndo: Bool, canRedo: Bool, result: Bool?)]] = []
        var rng = SeededRandom(seed: seed)
        for _ in 0..<40 {
            let (ops, steps) = try Self.randomCase(&rng)
            cases.append(.object([("ops", .array(ops))]))
            ours.append(steps)
        }
        guard let results = try await DifferentialTests.runConformance("undo-check.mjs", cases, name: "undo-\(seed)") else { return }
        func flag(_ v: YAny?) -> Bool? { if case .bool(let b)? = v { b } else { nil } }
        var undos = 0, redos = 0, failures: [String] = []
        for (c, (r, mine)) in zip(results, ours).enumerated() {
            if let problem = r["problem"]?.stringValue { failures.append("case \(c): Yjs failed: \(problem)") }
            guard case .array(let theirs)? = r["steps"] else { continue }
            for (i, (t, m)) in zip(theirs, mine).enumerated() {
                let result: Bool? = if case .bool(let b)? = t["result"] { b } else { nil }
                if result != m.result || flag(t["canUndo"]) != m.canUndo || flag(t["canRedo"]) != m.canRedo {
                    failures.append("case \(c) step \(i): Yjs result \(String(describing: result)) canUndo \(String(describing: t["canUndo"])) canRedo \(String(describing: t["canRedo"])), ours \(m)")
                    break
                }
                guard let state = t["state"]?.stringValue, DifferentialTests.equivalent(state, m.state) else {
                    failures.append("case \(c) step \(i): states differ")
                    break
                }
                if m.result == true, case .array(let ops)? = cases[c]["ops"] {
                    if case .string("undo")? = ops[i]["op"] { undos += 1 } else { redos += 1 }
                }
            }
        }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
        #expect(undos > 20 && redos > 5, "seed \(seed): only \(undos) undos and \(redos) redos changed something")
        print("undo differential seed \(seed): \(cases.count) cases, \(undos) undos and \(redos) redos matched Yjs step by step")
    }

    // MARK: Random histories

    private typealias Step = (state: String, canUndo: Bool, canRedo: Bool, result: Bool?)

    /// A random history, run on our engine while it is generated (so that
    /// every index is valid), with our state after each op.
    private static func randomCase(_ rng: inout SeededRandom) throws -> ([YAny], [Step]) {
        let doc = Doc(clientID: 1), other = Doc(clientID: 2)
        let um = UndoManager(doc, scope: [.text(doc.getText("t")), .map(doc.getMap("m")), .array(doc.getArray("a"))],
                             captureTimeout: .seconds(3600))
        var ops: [YAny] = []
        var steps: [Step] = []
        for _ in 0..<Int.random(in: 10...30, using: &rng) {
            let roll = Int.random(in: 0..<20, using: &rng)
            var result: Bool?
            let op: YAny
            switch roll {
            case 0..<4:
                op = .object([("op", .string("undo"))])
                result = um.undo()
            case 4..<6:
                op = .object([("op", .string("redo"))])
                result = um.redo()
            case 6..<9:
                op = .object([("op", .string("stop"))])
                um.stopCapturing()
            case 9..<11:
                try other.applyUpdate(doc.encodeStateAsUpdate(since: other.stateVector))
                let before = doc.stateVector
                var edits: [YAny] = []
                try other.transact { _ in
                    for _ in 0..<Int.random(in: 1...2, using: &rng) {
                        let e = randomEdit(other, &rng)
                        try apply(e, to: other)
                        edits.append(e)
                    }
                }
                op = .object([("op", .string("remote")), ("ops", .array(edits))])
                try doc.applyUpdate(other.encodeStateAsUpdate(since: before), origin: "remote")
            case 11..<13:
                // Several edits in one transaction: one stack item however they mix.
                var edits: [YAny] = []
                try doc.transact { _ in
                    for _ in 0..<Int.random(in: 2...3, using: &rng) {
                        let e = randomEdit(doc, &rng)
                        try apply(e, to: doc)
                        edits.append(e)
                    }
                }
                op = .object([("op", .string("txn")), ("ops", .array(edits))])
            default:
                op = randomEdit(doc, &rng)
                try apply(op, to: doc)
            }
            ops.append(op)
            steps.append((TestSupport.hex(doc.encodeStateAsUpdate(since: [:])), um.canUndo, um.canRedo, result))
        }
        return (ops, steps)
    }

    private static let pieces = ["a", "bc", "é", "xyz", " ", "Ω"]
    private static let keys = ["k1", "k2", "k3"]

    private static func randomEdit(_ doc: Doc, _ rng: inout SeededRandom) -> YAny {
        let text = doc.getText("t"), map = doc.getMap("m"), array = doc.getArray("a")
        func s(_ v: String) -> YAny { .string(v) }
        func i(_ v: Int) -> YAny { .integer(Int64(v)) }
        let key = keys[Int.random(in: 0..<keys.count, using: &rng)]
        switch Int.random(in: 0..<9, using: &rng) {
        case 0, 1, 2:
            let piece = pieces[Int.random(in: 0..<pieces.count, using: &rng)]
            return .object([("op", s("text-insert")), ("index", i(Int.random(in: 0...text.length, using: &rng))), ("text", s(piece))])
        case 3 where text.length > 0:
            let at = Int.random(in: 0..<text.length, using: &rng)
            return .object([("op", s("text-delete")), ("index", i(at)), ("count", i(Int.random(in: 1...min(4, text.length - at), using: &rng)))])
        case 4:
            return .object([("op", s("map-set")), ("key", s(key)), ("value", s("v\(Int.random(in: 0..<100, using: &rng))"))])
        case 5:
            if case .map? = map.get(key) as YValue? {
                return .object([("op", s("nested-set")), ("key", s(key)), ("k", s("n\(Int.random(in: 0..<3, using: &rng))")),
                                ("value", s("w\(Int.random(in: 0..<100, using: &rng))"))])
            }
            return .object([("op", s("map-set-map")), ("key", s(key)), ("entries", .object([("x", s("1")), ("y", s("2"))]))])
        case 6 where map.has(key):
            return .object([("op", s("map-delete")), ("key", s(key))])
        case 7 where array.count > 0:
            let at = Int.random(in: 0..<array.count, using: &rng)
            return .object([("op", s("array-delete")), ("index", i(at)), ("count", i(Int.random(in: 1...min(3, array.count - at), using: &rng)))])
        default:
            let values = (0..<Int.random(in: 1...3, using: &rng)).map { _ in s("e\(Int.random(in: 0..<100, using: &rng))") }
            return .object([("op", s("array-insert")), ("index", i(Int.random(in: 0...array.count, using: &rng))), ("values", .array(values))])
        }
    }

    private static func apply(_ op: YAny, to doc: Doc) throws {
        guard case .string(let name)? = op["op"] else { return }
        let text = doc.getText("t"), map = doc.getMap("m"), array = doc.getArray("a")
        func int(_ k: String) -> Int { Int(op[k]?.doubleValue ?? 0) }
        func str(_ k: String) -> String { op[k]?.stringValue ?? "" }
        switch name {
        case "text-insert": try text.insert(int("index"), str("text"))
        case "text-delete": try text.delete(int("index"), count: int("count"))
        case "map-set": try map.set(str("key"), .string(str("value")))
        case "map-set-map":
            guard case .object(let entries)? = op["entries"] else { return }
            try map.set(str("key"), .map(entries.map { ($0.0, .value($0.1)) }))
        case "map-delete": try map.delete(str("key"))
        case "nested-set":
            guard case .map(let nested)? = map.get(str("key")) as YValue? else { return }
            try nested.set(str("k"), .string(str("value")))
        case "array-insert":
            guard case .array(let values)? = op["values"] else { return }
            try array.insert(int("index"), values.map { .value($0) })
        case "array-delete": try array.delete(int("index"), count: int("count"))
        default: break
        }
    }
}
