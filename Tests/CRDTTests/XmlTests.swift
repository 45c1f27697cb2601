import Foundation
import Testing
import TestBasics
@testable import CRDT

/// The XML types must build the same structs as Yjs' and print the same
/// markup: random trees and edits run through both and are compared step by step.
@Suite("XML types")
struct XmlTests {
    @Test("elements, attributes and text print as Yjs prints them")
    func markup() throws {
        let doc = Doc(clientID: 1)
        let x = doc.getXmlFragment("x")
        try x.insert(0, [.element("P", attributes: [("class", .string("intro")), ("data-n", .integer(3))],
                                  children: [.text("Hello "), .element("em", children: [.text("world")])])])
        try x.insert(1, [.text("tail")])
        #expect(x.toString() == #"<p class="intro" data-n="3">Hello <em>world</em></p>tail"#)
        guard case .element(let p)? = x.get(0), case .text(let hello)? = p.get(0), case .text(let tail)? = x.get(1) else {
            Issue.record("children not found")
            return
        }
        #expect(p.nodeName == "P" && p.count == 2 && p.getAttribute("class") == .string("intro"))
        try hello.text.format(0, length: 5, attributes: ["strong": .bool(true)])
        try tail.text.format(0, length: 4, attributes: ["a": .object([("href", .string("/x")), ("alt", .string("y"))])])
        #expect(x.toString() == #"<p class="intro" data-n="3"><strong>Hello</strong> <em>world</em></p><a alt="y" href="/x">tail</a>"#)
        try p.removeAttribute("data-n")
        try p.delete(1)
        #expect(x.toString() == #"<p class="intro"><strong>Hello</strong> </p><a alt="y" href="/x">tail</a>"#)
        // A replica reading the updates shows the same markup; the root's JSON is its markup, as in Yjs.
        let other = Doc(clientID: 2)
        try other.applyUpdate(doc.encodeStateAsUpdate(since: [:]))
        #expect(other.getXmlFragment("x").toString() == x.toString())
        #expect(x.branch.toJSON() == .string(x.toString()))
        #expect(throws: CRDTError.self) { try x.insert(9, [.text("no")]) }
    }

    @Test("XML nested in a map reads back as XML, and its JSON is its markup")
    func nestedInMap() throws {
        let doc = Doc(clientID: 1)
        let m = doc.getMap("m")
        try m.set("body", .xmlElement("P", attributes: [("id", .string("a"))], children: [.xmlText("hi")]))
        guard case .xmlElement(let p)? = m.get("body") as YValue? else { Issue.record("not an element"); return }
        #expect(p.nodeName == "P" && p.toString() == #"<p id="a">hi</p>"#)
        guard case .text(let hi)? = p.get(0) else { Issue.record("no text child"); return }
        try hi.text.insert(2, "!")
        #expect(m.toJSON() == .object([("body", .string(#"<p id="a">hi!</p>"#))]))
    }

    @Test("the golden vector's fragment prints as expected")
    func vector() throws {
        let doc = Doc(clientID: 99)
        try doc.applyUpdate(TestSupport.unhex("01040900070103786d6c0301702800090005636c6173730177017807000900060400090202686900"))
        #expect(doc.getXmlFragment("xml").toString() == #"<p class="x">hi</p>"#)
    }

    @Test("random XML edits build the same structs and markup as Yjs", arguments: [1, 2, 3, 4] as [UInt64])
    func differential(seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        var cases: [YAny] = []
        var ours: [(steps: [(state: String, xml: String)], received: String)] = []
        for _ in 0..<30 {
            let doc = Doc(clientID: 1), receiver = Doc(clientID: 2)
            doc.onUpdate { u, _ in try? receiver.applyUpdate(u) }
            var ops: [YAny] = []
            var steps: [(state: String, xml: String)] = []
            for _ in 0..<Int.random(in: 5...25, using: &rng) {
                let op = Self.randomOp(doc.getXmlFragment("x"), &rng)
                try Self.apply(op, to: doc.getXmlFragment("x"))
                ops.append(op)
                steps.append((TestSupport.hex(doc.encodeStateAsUpdate(since: [:])), doc.getXmlFragment("x").toString()))
            }
            cases.append(.object([("ops", .array(ops))]))
            ours.append((steps, receiver.getXmlFragment("x").toString()))
        }
        guard let results = try await DifferentialTests.runConformance("xml-check.mjs", cases, name: "xml-\(seed)") else { return }
        var failures: [String] = []
        var compared = 0
        for (c, (r, mine)) in zip(results, ours).enumerated() {
            if let problem = r["problem"]?.stringValue { failures.append("case \(c): Yjs failed: \(problem)") }
            guard case .array(let theirs)? = r["steps"] else { continue }
            for (i, (t, m)) in zip(theirs, mine.steps).enumerated() {
                guard t["xml"]?.stringValue == m.xml else {
                    failures.append("case \(c) step \(i): Yjs \(t["xml"]?.stringValue ?? "-") ours \(m.xml)")
                    break
                }
                guard let state = t["state"]?.stringValue, DifferentialTests.equivalent(state, m.state) else {
                    failures.append("case \(c) step \(i): states differ")
                    break
                }
                compared += 1
            }
            if r["received"]?.stringValue != mine.received { failures.append("case \(c): receivers differ") }
        }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
        #expect(compared > 200, "seed \(seed): only \(compared) steps compared")
    }

    // MARK: Random edits

    private static let names = ["p", "em", "Div", "li"]

    private static func randomNode(_ rng: inout SeededRandom, depth: Int) -> YAny {
        if depth > 1 || Int.random(in: 0..<3, using: &rng) == 0 {
            return .object([("text", .string(["ab", "c", "é", " x "][Int.random(in: 0..<4, using: &rng)]))])
        }
        let attrs: [YAny] = (0..<Int.random(in: 0...2, using: &rng)).map { i in
            .array([.string(["class", "id", "href"][(i + Int.random(in: 0..<3, using: &rng)) % 3]), .string("v\(Int.random(in: 0..<9, using: &rng))")])
        }
        let children = (0..<Int.random(in: 0...2, using: &rng)).map { _ in randomNode(&rng, depth: depth + 1) }
        return .object([("name", .string(names[Int.random(in: 0..<names.count, using: &rng)])), ("attrs", .array(attrs)), ("children", .array(children))])
    }

    /// Every container (fragment or element) and text node, with its path.
    private static func walk(_ children: [YXmlChild], _ path: [Int], _ containers: inout [[Int]], _ texts: inout [([Int], YXmlText)]) {
        for (i, child) in children.enumerated() {
            switch child {
            case .element(let e):
                containers.append(path + [i])
                walk(e.children, path + [i], &containers, &texts)
            case .text(let t):
                texts.append((path + [i], t))
            }
        }
    }

    private static func randomOp(_ x: YXmlFragment, _ rng: inout SeededRandom) -> YAny {
        var containers: [[Int]] = [[]]
        var texts: [([Int], YXmlText)] = []
        walk(x.children, [], &containers, &texts)
        func path(_ p: [Int]) -> YAny { .array(p.map { .integer(Int64($0)) }) }
        func int(_ v: Int) -> YAny { .integer(Int64(v)) }
        let container = containers[Int.random(in: 0..<containers.count, using: &rng)]
        let count = node(x, container).count
        let roll = Int.random(in: 0..<10, using: &rng)
        if roll < 3 || (count == 0 && texts.isEmpty) {
            let nodes = (0..<Int.random(in: 1...2, using: &rng)).map { _ in randomNode(&rng, depth: 0) }
            return .object([("op", .string("insert")), ("path", path(container)), ("index", int(Int.random(in: 0...count, using: &rng))), ("nodes", .array(nodes))])
        }
        if roll == 3, count > 0 {
            let at = Int.random(in: 0..<count, using: &rng)
            return .object([("op", .string("delete")), ("path", path(container)), ("index", int(at)), ("count", int(Int.random(in: 1...(count - at), using: &rng)))])
        }
        if roll == 4, !container.isEmpty {
            return .object([("op", .string("set-attr")), ("path", path(container)), ("key", .string(["class", "id", "title"][Int.random(in: 0..<3, using: &rng)])),
                            ("value", .string("w\(Int.random(in: 0..<9, using: &rng))"))])
        }
        if roll == 5, !container.isEmpty {
            return .object([("op", .string("remove-attr")), ("path", path(container)), ("key", .string(["class", "id", "title"][Int.random(in: 0..<3, using: &rng)]))])
        }
        guard let (textPath, text) = texts.isEmpty ? nil : texts[Int.random(in: 0..<texts.count, using: &rng)] else {
            return .object([("op", .string("insert")), ("path", path(container)), ("index", int(0)), ("nodes", .array([randomNode(&rng, depth: 2)]))])
        }
        let length = text.text.length
        if roll < 8 || length == 0 {
            return .object([("op", .string("text-insert")), ("path", path(textPath)), ("index", int(Int.random(in: 0...length, using: &rng))),
                            ("text", .string(["q", "rs", "ü"][Int.random(in: 0..<3, using: &rng)]))])
        }
        let at = Int.random(in: 0..<length, using: &rng)
        let n = Int.random(in: 1...(length - at), using: &rng)
        if roll == 8 {
            return .object([("op", .string("text-delete")), ("path", path(textPath)), ("index", int(at)), ("count", int(n))])
        }
        let attrs: [(String, YAny)] = [[("b", .bool(true))], [("b", .null)], [("a", .object([("href", .string("/h"))]))]][Int.random(in: 0..<3, using: &rng)]
        return .object([("op", .string("text-format")), ("path", path(textPath)), ("index", int(at)), ("length", int(n)), ("attrs", .object(attrs))])
    }

    private enum Node {
        case fragment(YXmlFragment), element(YXmlElement), text(YXmlText)
        var count: Int {
            switch self {
            case .fragment(let f): f.count
            case .element(let e): e.count
            case .text(let t): t.text.length
            }
        }
    }

    private static func node(_ x: YXmlFragment, _ path: [Int]) -> Node {
        var current = Node.fragment(x)
        for i in path {
            let child: YXmlChild?
            switch current {
            case .fragment(let f): child = f.get(i)
            case .element(let e): child = e.get(i)
            case .text: child = nil
            }
            switch child {
            case .element(let e)?: current = .element(e)
            case .text(let t)?: current = .text(t)
            case nil: return current
            }
        }
        return current
    }

    private static func build(_ v: YAny) -> YXmlNode {
        if let s = v["text"]?.stringValue { return .text(s) }
        var attrs: [(String, YAny)] = []
        if case .array(let pairs)? = v["attrs"] {
            for pair in pairs { if case .array(let kv) = pair, kv.count == 2, let k = kv[0].stringValue { attrs.append((k, kv[1])) } }
        }
        var children: [YXmlNode] = []
        if case .array(let cs)? = v["children"] { children = cs.map(build) }
        return .element(v["name"]?.stringValue ?? "x", attributes: attrs, children: children)
    }

    private static func apply(_ op: YAny, to x: YXmlFragment) throws {
        guard case .array(let p)? = op["path"] else { return }
        let target = node(x, p.map { Int($0.doubleValue ?? 0) })
        func int(_ k: String) -> Int { Int(op[k]?.doubleValue ?? 0) }
        switch (op["op"]?.stringValue ?? "", target) {
        case ("insert", .fragment(let f)):
            guard case .array(let nodes)? = op["nodes"] else { return }
            try f.insert(int("index"), nodes.map(build))
        case ("insert", .element(let e)):
            guard case .array(let nodes)? = op["nodes"] else { return }
            try e.insert(int("index"), nodes.map(build))
        case ("delete", .fragment(let f)): try f.delete(int("index"), count: int("count"))
        case ("delete", .element(let e)): try e.delete(int("index"), count: int("count"))
        case ("set-attr", .element(let e)): try e.setAttribute(op["key"]?.stringValue ?? "", op["value"] ?? .null)
        case ("remove-attr", .element(let e)): try e.removeAttribute(op["key"]?.stringValue ?? "")
        case ("text-insert", .text(let t)): try t.text.insert(int("index"), op["text"]?.stringValue ?? "")
        case ("text-delete", .text(let t)): try t.text.delete(int("index"), count: int("count"))
        case ("text-format", .text(let t)):
            guard case .object(let attrs)? = op["attrs"] else { return }
            try t.text.format(int("index"), length: int("length"), attributes: Dictionary(attrs, uniquingKeysWith: { $1 }))
        default:
            Issue.record("op \(op) does not fit its target")
        }
    }
}
