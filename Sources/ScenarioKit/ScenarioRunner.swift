public import CRDT

/// Runs scenarios of `scenario-format.md` on our engine and produces output
/// in exactly the shape `yjs-runner.mjs` writes (section 9), so the two can
/// be compared.
public enum ScenarioRunner {
    /// Runner name written into outputs.
    public static let runnerName = "nest-sync crdt"

    final class Client {
        let id: Int
        let doc: Doc
        var updates: [[UInt8]] = []
        var received: [[UInt8]] = []
        var inOps = false

        init(id: Int, gc: Bool) {
            self.id = id
            doc = Doc(clientID: id, gc: gc)
            doc.onUpdate { [unowned self] update, _ in
                if self.inOps { self.updates.append(update) } else { self.received.append(update) }
            }
        }
    }

    enum RootKind: String { case text, map, array }

    /// Runs one scenario (parsed JSON) and returns its output object.
    /// Throws ``ScenarioError`` for an invalid scenario; check `expect` with
    /// ``expectationFailures(_:_:)``.
    public static func run(_ scenario: YAny) throws(ScenarioError) -> YAny {
        guard case .object(let top) = scenario else { throw .invalid("scenario: must be an object") }
        let allowed: Set<String> = ["name", "description", "seed", "roots", "clients", "gc", "steps", "expect"]
        for (k, _) in top where !allowed.contains(k) { throw .invalid("scenario: unknown field \"\(k)\"") }
        guard case .string(let name)? = scenario["name"], !name.isEmpty else { throw .invalid("scenario: \"name\" must be a non-empty string") }
        var gc = true
        if let g = scenario["gc"] {
            guard case .bool(let b) = g else { throw .invalid("scenario: \"gc\" must be true or false") }
            gc = b
        }
        guard case .object(let rootPairs)? = scenario["roots"], !rootPairs.isEmpty else {
            throw .invalid("scenario: \"roots\" must be a non-empty object")
        }
        var roots: [(String, RootKind)] = []
        for (rootName, kind) in rootPairs {
            guard case .string(let k) = kind, let rk = RootKind(rawValue: k) else {
                throw .invalid("scenario: root \"\(rootName)\": type must be text, map or array")
            }
            roots.append((rootName, rk))
        }
        guard case .array(let ids)? = scenario["clients"], !ids.isEmpty else {
            throw .invalid("scenario: \"clients\" must be a non-empty array")
        }
        var clients: [Client] = []
        for idValue in ids {
            guard let d = idValue.doubleValue, d >= 0, d <= 9_007_199_254_740_991, d.rounded() == d else {
                throw .invalid("scenario: client id \(idValue) must be an integer in 0 .. 2^53-1")
            }
            let id = Int(d)
            if clients.contains(where: { $0.id == id }) { throw .invalid("scenario: client id \(id) is listed twice") }
            let c = Client(id: id, gc: gc)
            for (rootName, kind) in roots {
                switch kind {
                case .text: _ = c.doc.getText(rootName)
                case .map: _ = c.doc.getMap(rootName)
                case .array: _ = c.doc.getArray(rootName)
                }
            }
            clients.append(c)
        }
        guard case .array(let steps)? = scenario["steps"] else { throw .invalid("scenario: \"steps\" must be an array") }
        let session = Session(roots: roots, clients: clients)
        for (i, step) in steps.enumerated() { try session.run(step, index: i) }
        let output = session.output(name: name)
        if let expect = scenario["expect"] { _ = try expectationFailures(expect, output) }
        return output
    }

    /// The ways `output` misses the scenario's `expect` block (section 8).
    public static func expectationFailures(_ expect: YAny, _ output: YAny) throws(ScenarioError) -> [String] {
        guard case .object(let pairs) = expect else { throw .invalid("expect: must be an object") }
        var failures: [String] = []
        for (k, v) in pairs {
            switch k {
            case "converged":
                if output["converged"] != v { failures.append("converged is \(output["converged"] ?? .null), expected \(v)") }
            case "json", "deltas":
                if case .object(let cs)? = output["clients"] {
                    for (id, c) in cs where c[k] != v { failures.append("client \(id): \(k) is \(c[k] ?? .null), expected \(v)") }
                }
            case "clients":
                guard case .object(let expectedClients) = v else { throw .invalid("expect.clients: must be an object") }
                for (id, fields) in expectedClients {
                    guard let actual = output["clients"]?[id] else { failures.append("no client \(id)"); continue }
                    guard case .object(let fs) = fields else { throw .invalid("expect.clients.\(id): must be an object") }
                    for (f, ev) in fs where actual[f] != ev { failures.append("client \(id): \(f) is \(actual[f] ?? .null), expected \(ev)") }
                }
            default:
                throw .invalid("expect: unknown field \"\(k)\"")
            }
        }
        return failures
    }

    final class Session {
        let roots: [(String, RootKind)]
        let clients: [Client]

        init(roots: [(String, RootKind)], clients: [Client]) {
            self.roots = roots
            self.clients = clients
        }

        func client(_ v: YAny?, _ at: String) throws(ScenarioError) -> Client {
            guard let d = v?.doubleValue, let c = clients.first(where: { Double($0.id) == d }) else {
                throw .invalid("\(at): unknown client \(v ?? .null)")
            }
            return c
        }

        func checkKeys(_ v: YAny, _ allowed: Set<String>, _ at: String) throws(ScenarioError) {
            guard case .object(let pairs) = v else { throw .invalid("\(at): must be an object") }
            for (k, _) in pairs where !allowed.contains(k) { throw .invalid("\(at): unknown field \"\(k)\"") }
        }

        func apply(_ to: Client, _ update: [UInt8], _ at: String) throws(ScenarioError) {
            do {
                try to.doc.applyUpdate(update)
            } catch {
                throw .invalid("\(at): the update could not be applied: \(error)")
            }
            if to.doc.clientID != to.id { throw .invalid("\(at): the update contains structs of client \(to.id) that it did not create") }
        }

        func sync(_ from: Client, _ to: Client, _ at: String) throws(ScenarioError) {
            let update = from.doc.encodeStateAsUpdate(since: to.doc.stateVector)
            try apply(to, update, at)
        }

        func run(_ step: YAny, index: Int) throws(ScenarioError) {
            let at = "step \(index)"
            guard case .object = step else { throw .invalid("\(at): must be an object") }
            if step["client"] != nil {
                try checkKeys(step, ["client", "ops", "note"], at)
                let c = try client(step["client"], at)
                guard case .array(let ops)? = step["ops"] else { throw .invalid("\(at): \"ops\" must be an array") }
                c.inOps = true
                defer { c.inOps = false }
                var failure: ScenarioError?
                c.doc.transact { _ in
                    for (i, op) in ops.enumerated() {
                        do { try applyOp(c, op, "\(at) op \(i)") } catch {
                            failure = error as? ScenarioError ?? .invalid("\(at) op \(i): \(error)")
                            return
                        }
                    }
                }
                if let failure { throw failure }
            } else if let pair = step["sync"] {
                try checkKeys(step, ["sync", "note"], at)
                guard case .array(let ids) = pair, ids.count == 2 else { throw .invalid("\(at): \"sync\" must be [from, to]") }
                let from = try client(ids[0], at)
                let to = try client(ids[1], at)
                if from === to { throw .invalid("\(at): cannot sync a client with itself") }
                try sync(from, to, at)
            } else if let d = step["deliver"] {
                try checkKeys(step, ["deliver", "note"], at)
                try checkKeys(d, ["from", "to", "updates", "merged"], "\(at) deliver")
                let from = try client(d["from"], at)
                let to = try client(d["to"], at)
                if from === to { throw .invalid("\(at): cannot deliver to the same client") }
                guard case .array(let indexes)? = d["updates"] else { throw .invalid("\(at): \"updates\" must be an array of indexes") }
                var updates: [[UInt8]] = []
                for i in indexes {
                    guard let x = i.doubleValue, x >= 0, x.rounded() == x, Int(x) < from.updates.count else {
                        throw .invalid("\(at): update index \(i) out of range (client \(from.id) has made \(from.updates.count))")
                    }
                    updates.append(from.updates[Int(x)])
                }
                var merged = false
                if let m = d["merged"] {
                    guard case .bool(let b) = m else { throw .invalid("\(at): \"merged\" must be true or false") }
                    merged = b
                }
                if merged {
                    if !updates.isEmpty {
                        let u: [UInt8]
                        do { u = try Updates.merge(updates) } catch { throw .invalid("\(at): merge failed: \(error)") }
                        try apply(to, u, at)
                    }
                } else {
                    for u in updates { try apply(to, u, at) }
                }
            } else if let s = step["syncAll"] {
                try checkKeys(step, ["syncAll", "note"], at)
                guard case .bool(true) = s else { throw .invalid("\(at): \"syncAll\" must be true") }
                var round = 0
                while true {
                    if round == 10 { throw .invalid("\(at): no quiescence after 10 rounds") }
                    let before = clients.reduce(0) { $0 + $1.received.count }
                    for a in clients { for b in clients where a !== b { try sync(a, b, at) } }
                    if clients.reduce(0, { $0 + $1.received.count }) == before { break }
                    round += 1
                }
            } else if let a = step["apply"] {
                try checkKeys(step, ["apply", "note"], at)
                try checkKeys(a, ["to", "update"], "\(at) apply")
                let to = try client(a["to"], at)
                guard case .string(let h)? = a["update"], let bytes = ScenarioValues.unhex(h) else {
                    throw .invalid("\(at): \"update\" must be lowercase hex")
                }
                try apply(to, bytes, at)
            } else {
                throw .invalid("\(at): unknown step (expected client, sync, deliver, syncAll or apply)")
            }
        }

        enum Target {
            case text(YText), map(YMap), array(YArray)
            var kind: String {
                switch self {
                case .text: "text"
                case .map: "map"
                case .array: "array"
                }
            }
        }

        func resolve(_ c: Client, _ path: YAny?, _ at: String) throws(ScenarioError) -> Target {
            guard case .array(let segments)? = path, let first = segments.first else { throw .invalid("\(at): \"path\" must be a non-empty array") }
            guard case .string(let rootName) = first, let root = roots.first(where: { $0.0 == rootName }) else {
                throw .invalid("\(at): unknown root \(first)")
            }
            var target: Target
            switch root.1 {
            case .text: target = .text(c.doc.getText(rootName))
            case .map: target = .map(c.doc.getMap(rootName))
            case .array: target = .array(c.doc.getArray(rootName))
            }
            for seg in segments.dropFirst() {
                let value: YValue?
                switch target {
                case .map(let m):
                    guard case .string(let k) = seg else { throw .invalid("\(at): a map is indexed by a string key") }
                    guard m.has(k) else { throw .invalid("\(at): path: no key \"\(k)\"") }
                    value = m.get(k)
                case .array(let a):
                    guard let d = seg.doubleValue, d.rounded() == d else { throw .invalid("\(at): an array is indexed by an integer") }
                    guard d >= 0, Int(d) < a.count else { throw .invalid("\(at): path: index \(Int(d)) out of range (length \(a.count))") }
                    value = a.get(Int(d))
                case .text:
                    throw .invalid("\(at): cannot go inside a text")
                }
                switch value {
                case .text(let t)?: target = .text(t)
                case .map(let m)?: target = .map(m)
                case .array(let a)?: target = .array(a)
                default: throw .invalid("\(at): path: not a shared type")
                }
            }
            return target
        }

        static let opFields: [String: Set<String>] = [
            "text.insert": ["index", "text", "attrs"], "text.delete": ["index", "length"],
            "text.format": ["index", "length", "attrs"], "map.set": ["key", "value"], "map.delete": ["key"],
            "array.insert": ["index", "values"], "array.push": ["values"], "array.delete": ["index", "length"],
        ]

        func int(_ v: YAny?, _ field: String, _ at: String) throws(ScenarioError) -> Int {
            guard let d = v?.doubleValue, d >= 0, d.rounded() == d, d < 9e15 else {
                throw .invalid("\(at): \"\(field)\" must be a non-negative integer")
            }
            return Int(d)
        }

        func attrs(_ v: YAny?, _ at: String) throws(ScenarioError) -> [String: YAny] {
            guard let v, case .object = v else { throw .invalid("\(at): attrs must be an object") }
            guard case .object(let pairs) = try ScenarioValues.plain(v, at) else { return [:] }
            var out: [String: YAny] = [:]
            for (k, x) in pairs { out[k] = x }
            return out
        }

        func applyOp(_ c: Client, _ op: YAny, _ baseAt: String) throws(ScenarioError) {
            guard case .string(let opName)? = op["op"], let fields = Self.opFields[opName] else {
                throw .invalid("\(baseAt): unknown op \(op["op"] ?? .null)")
            }
            let at = "\(baseAt) (\(opName))"
            try checkKeys(op, fields.union(["op", "path"]), at)
            let target = try resolve(c, op["path"], at)
            guard opName.hasPrefix(target.kind + ".") else {
                throw .invalid("\(at): path \(op["path"] ?? .null) is a \(target.kind), not a \(opName.split(separator: ".")[0])")
            }
            do {
                switch (opName, target) {
                case ("text.insert", .text(let t)):
                    guard case .string(let s)? = op["text"] else { throw ScenarioError.invalid("\(at): text must be a string") }
                    let index = try int(op["index"], "index", at)
                    guard index <= t.length else { throw ScenarioError.invalid("\(at): index \(index) out of range (length \(t.length))") }
                    let a = op["attrs"] == nil ? nil : try attrs(op["attrs"], at)
                    try t.insert(index, s, attributes: a)
                case ("text.delete", .text(let t)):
                    let index = try int(op["index"], "index", at)
                    let length = try int(op["length"], "length", at)
                    guard index + length <= t.length else { throw ScenarioError.invalid("\(at): range \(index)+\(length) out of range (length \(t.length))") }
                    try t.delete(index, count: length)
                case ("text.format", .text(let t)):
                    let index = try int(op["index"], "index", at)
                    let length = try int(op["length"], "length", at)
                    guard index + length <= t.length else { throw ScenarioError.invalid("\(at): range \(index)+\(length) out of range (length \(t.length))") }
                    try t.format(index, length: length, attributes: try attrs(op["attrs"], at))
                case ("map.set", .map(let m)):
                    guard case .string(let k)? = op["key"] else { throw ScenarioError.invalid("\(at): key must be a string") }
                    guard let v = op["value"] else { throw ScenarioError.invalid("\(at): \"value\" is missing") }
                    try m.set(k, try ScenarioValues.input(v, "\(at) value"))
                case ("map.delete", .map(let m)):
                    guard case .string(let k)? = op["key"] else { throw ScenarioError.invalid("\(at): key must be a string") }
                    try m.delete(k)
                case ("array.insert", .array(let a)), ("array.push", .array(let a)):
                    guard case .array(let vs)? = op["values"] else { throw ScenarioError.invalid("\(at): \"values\" must be an array") }
                    var inputs: [YInput] = []
                    for (i, v) in vs.enumerated() { inputs.append(try ScenarioValues.input(v, "\(at) values[\(i)]")) }
                    if opName == "array.push" {
                        try a.push(inputs)
                    } else {
                        let index = try int(op["index"], "index", at)
                        guard index <= a.count else { throw ScenarioError.invalid("\(at): index \(index) out of range (length \(a.count))") }
                        try a.insert(index, inputs)
                    }
                case ("array.delete", .array(let a)):
                    let index = try int(op["index"], "index", at)
                    let length = try int(op["length"], "length", at)
                    guard index + length <= a.count else { throw ScenarioError.invalid("\(at): range \(index)+\(length) out of range (length \(a.count))") }
                    try a.delete(index, count: length)
                default:
                    throw ScenarioError.invalid("\(at): op does not fit the target")
                }
            } catch let e as ScenarioError {
                throw e
            } catch {
                throw .invalid("\(at): \(error)")
            }
        }

        // MARK: Output

        func output(name: String) -> YAny {
            var clientOutputs: [(String, YAny)] = []
            var views: [String] = []
            for c in clients {
                var json: [(String, YAny)] = []
                var deltas: [YAny] = []
                for (rootName, kind) in roots {
                    switch kind {
                    case .text:
                        let t = c.doc.getText(rootName)
                        json.append((rootName, .string(t.toString())))
                        collectDeltas(.text(t), [.string(rootName)], &deltas)
                    case .map:
                        let m = c.doc.getMap(rootName)
                        json.append((rootName, m.toJSON()))
                        collectDeltas(.map(m), [.string(rootName)], &deltas)
                    case .array:
                        let a = c.doc.getArray(rootName)
                        json.append((rootName, a.toJSON()))
                        collectDeltas(.array(a), [.string(rootName)], &deltas)
                    }
                }
                let jsonValue = ScenarioValues.canonical(.object(json))
                views.append(JSONText.stringify(.array([jsonValue, .array(deltas)])))
                clientOutputs.append((String(c.id), .object([
                    ("json", jsonValue),
                    ("deltas", .array(deltas)),
                    ("stateVector", .string(ScenarioValues.hex(c.doc.encodeStateVector()))),
                    ("state", .string(ScenarioValues.hex(c.doc.encodeStateAsUpdate(since: [:])))),
                    ("pending", .bool(c.doc.hasPending)),
                    ("updates", .array(c.updates.map { .string(ScenarioValues.hex($0)) })),
                    ("received", .array(c.received.map { .string(ScenarioValues.hex($0)) })),
                ])))
            }
            return .object([
                ("name", .string(name)),
                ("runner", .string(ScenarioRunner.runnerName)),
                ("converged", .bool(views.allSatisfy { $0 == views[0] })),
                ("clients", .object(clientOutputs)),
            ])
        }

        func collectDeltas(_ target: Target, _ path: [YAny], _ out: inout [YAny]) {
            switch target {
            case .text(let t):
                var runs: [(insert: YAny, attrs: YAny?)] = []
                for d in t.toDelta() {
                    let attrs: YAny? = d.attributes.isEmpty ? nil : ScenarioValues.canonical(.object(d.attributes))
                    switch d.op {
                    case .insert(let s):
                        if let last = runs.last, case .string(let prev) = last.insert,
                           JSONText.stringify(last.attrs ?? .object([])) == JSONText.stringify(attrs ?? .object([])) {
                            runs[runs.count - 1].insert = .string(prev + s)
                        } else {
                            runs.append((.string(s), attrs))
                        }
                    case .insertEmbed(let v): runs.append((ScenarioValues.canonical(v), attrs))
                    default: break
                    }
                }
                if runs.contains(where: { $0.attrs != nil }) {
                    let delta: [YAny] = runs.map { r in
                        var op: [(String, YAny)] = []
                        if let a = r.attrs { op.append(("attributes", a)) }
                        op.append(("insert", r.insert))
                        return .object(op)
                    }
                    out.append(.object([("delta", .array(delta)), ("path", .array(path))]))
                }
            case .map(let m):
                for k in m.keys.sorted(by: ScenarioValues.jsLess) {
                    switch m.get(k) as YValue? {
                    case .text(let t)?: collectDeltas(.text(t), path + [.string(k)], &out)
                    case .map(let mm)?: collectDeltas(.map(mm), path + [.string(k)], &out)
                    case .array(let a)?: collectDeltas(.array(a), path + [.string(k)], &out)
                    default: break
                    }
                }
            case .array(let a):
                for i in 0..<a.count {
                    switch a.get(i) {
                    case .text(let t)?: collectDeltas(.text(t), path + [.number(Double(i))], &out)
                    case .map(let mm)?: collectDeltas(.map(mm), path + [.number(Double(i))], &out)
                    case .array(let aa)?: collectDeltas(.array(aa), path + [.number(Double(i))], &out)
                    default: break
                    }
                }
            }
        }
    }
}
