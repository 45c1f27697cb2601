import Testing
import Foundation
import CRDT

/// Every golden vector of `shared/spec/vectors` (spec section 10).
@Suite("golden vectors")
struct VectorTests {
    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestSupport.vectorsDir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    static func load(_ name: String) throws -> YAny { try TestSupport.readJSON(TestSupport.vectorsDir.appendingPathComponent(name)) }

    /// Every `*_hex` field with its dotted path.
    static func hexFields(_ v: YAny, _ prefix: String = "") -> [(String, String)] {
        guard case .object(let pairs) = v else { return [] }
        var out: [(String, String)] = []
        for (k, x) in pairs {
            let path = prefix.isEmpty ? k : "\(prefix).\(k)"
            if k.hasSuffix("_hex"), case .string(let h) = x { out.append((path, h)) } else { out += hexFields(x, path) }
        }
        return out
    }

    static func lookup(_ v: YAny, _ dotted: String) -> String? {
        var cur: YAny? = v
        for part in dotted.split(separator: ".") { cur = cur?[String(part)] }
        if case .string(let s)? = cur { return s }
        return nil
    }

    /// Compares a document with a vector's `expected` block.
    static func check(_ doc: Doc, _ expected: YAny, _ context: String) {
        guard case .object(let roots) = expected else { return }
        for (name, spec) in roots {
            guard case .string(let type)? = spec["type"] else { continue }
            switch type {
            case "Text":
                let t = doc.getText(name)
                #expect(spec["value"] == .string(t.toString()), "\(context): text \(name)")
                if case .array(let runs)? = spec["delta"] {
                    let delta = t.toDelta()
                    #expect(delta.count == runs.count, "\(context): delta of \(name)")
                    for (d, r) in zip(delta, runs) {
                        guard case .array(let pair) = r, pair.count == 2 else { continue }
                        switch d.op {
                        case .insert(let s): #expect(pair[0] == .string(s), "\(context): delta text")
                        case .insertEmbed(let v): #expect(TestSupport.jsonEqual(v, pair[0]), "\(context): delta embed")
                        default: Issue.record("\(context): unexpected delta op")
                        }
                        let attrs: YAny = d.attributes.isEmpty ? .null : .object(d.attributes)
                        #expect(attrs == pair[1], "\(context): delta attributes \(attrs) vs \(pair[1])")
                    }
                }
            case "Map":
                #expect(TestSupport.jsonEqual(doc.getMap(name).toJSON(), spec["value"] ?? .null), "\(context): map \(name) = \(doc.getMap(name).toJSON())")
            case "Array":
                #expect(TestSupport.jsonEqual(doc.getArray(name).toJSON(), spec["value"] ?? .null), "\(context): array \(name) = \(doc.getArray(name).toJSON())")
            default:
                break
            }
        }
    }

    @Test("every v1 update and state vector decodes with every byte consumed", arguments: files)
    func decodesEverything(file: String) throws {
        let v = try Self.load(file)
        let fields = Self.hexFields(v)
        for (path, h) in fields {
            let last = path.split(separator: ".").last.map(String.init) ?? path
            let bytes = TestSupport.unhex(h)
            if last.hasPrefix("update") || (path.contains("updates.") && last.hasPrefix("update")) {
                #expect(throws: Never.self, "\(file) \(path)") { try Doc(clientID: 999_999).applyUpdate(bytes) }
                #expect(throws: Never.self, "\(file) \(path)") { _ = try Updates.stateVector(of: bytes) }
            } else if last.hasPrefix("sv") {
                #expect(throws: Never.self, "\(file) \(path)") { _ = try decodeStateVector(bytes) }
            }
        }
    }

    @Test("every replay reaches the expected document", arguments: files)
    func replays(file: String) throws {
        let v = try Self.load(file)
        guard case .array(let replays)? = v["replay"] else { return }
        for r in replays {
            guard case .array(let apply)? = r["apply"], case .string(let name)? = r["name"] else { continue }
            let doc = Doc(clientID: 999_999)
            for p in apply {
                guard case .string(let path) = p, let h = Self.lookup(v, path) else { Issue.record("\(file): missing \(p)"); continue }
                try doc.applyUpdate(TestSupport.unhex(h))
            }
            Self.check(doc, r["expected"] ?? .null, "\(file) / \(name)")
            // Only these replays hold structs back for missing clocks.
            let expectsPending = file == "handcrafted_gc_and_skip.json" || name == "u1,u3 (pending)"
            #expect(doc.hasPending == expectsPending, "\(file) / \(name): pending is \(doc.hasPending)")
        }
    }

    /// Full updates that Yjs re-encodes byte for byte (spec section 0 lists
    /// the exceptions: pycrdt's float encoding of integers in `array_mixed_any`).
    @Test("full updates re-encode byte-identically", arguments: [
        ("text_insert_hello.json", "update_hex"), ("text_append_incremental.json", "update_full_hex"),
        ("text_delete.json", "update_full_hex"), ("text_emoji_utf16.json", "update_full_hex"),
        ("text_format_bold.json", "update_full_hex"), ("map_set_overwrite.json", "update_full_hex"),
        ("map_nested.json", "update_hex"), ("gc_nested_delete.json", "update_hex"),
        ("state_vector_multi_client.json", "update_hex"), ("diff_update.json", "update_full_hex"),
        ("xml_fragment.json", "update_hex"), ("handcrafted_any_encodings.json", "update_hex"),
        ("handcrafted_content_refs.json", "update_hex"), ("empty_doc.json", "update_hex"),
        ("map_concurrent_set.json", "update_merged_hex"),
    ])
    func reencodes(file: String, field: String) throws {
        let v = try Self.load(file)
        guard let h = Self.lookup(v, field) else { Issue.record("\(file): no \(field)"); return }
        let doc = Doc(clientID: 999_999)
        try doc.applyUpdate(TestSupport.unhex(h))
        #expect(TestSupport.hex(try doc.encodeStateAsUpdate()) == h, "\(file) \(field)")
    }

    @Test("state vectors after replay equal the vectors'")
    func stateVectors() throws {
        for (file, field, updates) in [
            ("text_insert_hello.json", "sv_hex", ["update_hex"]), ("text_delete.json", "sv_hex", ["update_full_hex"]),
            ("state_vector_multi_client.json", "sv_hex", ["update_hex"]),
            ("handcrafted_gc_and_skip.json", "sv_after_hex", ["update_hex"]),
            ("merge_and_pending.json", "sv_pending_hex", ["update_1_hex", "update_3_hex"]),
        ] {
            let v = try Self.load(file)
            let doc = Doc(clientID: 999_999)
            for u in updates { try doc.applyUpdate(TestSupport.unhex(Self.lookup(v, u) ?? "")) }
            let expected = try decodeStateVector(TestSupport.unhex(Self.lookup(v, field) ?? ""))
            #expect(doc.stateVector == expected, "\(file) \(field)")
        }
    }

    @Test("diffUpdate and encodeStateAsUpdate(since:) match the diff vectors")
    func diffs() throws {
        let v = try Self.load("diff_update.json")
        let full = TestSupport.unhex(Self.lookup(v, "update_full_hex") ?? "")
        let svRemote = TestSupport.unhex(Self.lookup(v, "sv_remote_hex") ?? "")
        let svMid = TestSupport.unhex(Self.lookup(v, "sv_mid_hex") ?? "")
        #expect(TestSupport.hex(try Updates.diff(full, stateVector: svRemote)) == Self.lookup(v, "update_diff_nodoc_hex"))
        let doc = Doc(clientID: 999_999)
        try doc.applyUpdate(full)
        #expect(TestSupport.hex(try doc.encodeStateAsUpdate(since: svRemote)) == Self.lookup(v, "update_diff_hex"))
        #expect(TestSupport.hex(try doc.encodeStateAsUpdate(since: svMid)) == Self.lookup(v, "update_diff_mid_hex"))
    }

    @Test("mergeUpdates with and without a hole matches the vectors")
    func merges() throws {
        let v = try Self.load("merge_and_pending.json")
        let u = ["update_1_hex", "update_2_hex", "update_3_hex"].map { TestSupport.unhex(Self.lookup(v, $0) ?? "") }
        #expect(TestSupport.hex(try Updates.merge(u)) == Self.lookup(v, "update_merged_all_hex"))
        #expect(TestSupport.hex(try Updates.merge([u[0], u[2]])) == Self.lookup(v, "update_merged_gap_hex"))
        // Both application orders of a concurrent map set give the same state.
        let c = try Self.load("map_concurrent_set.json")
        let ab = ["update_A_hex", "update_B_hex"].map { TestSupport.unhex(Self.lookup(c, $0) ?? "") }
        for order in [ab, ab.reversed()] {
            let doc = Doc(clientID: 999_999)
            for u in order { try doc.applyUpdate(u) }
            #expect(TestSupport.hex(try doc.encodeStateAsUpdate()) == Self.lookup(c, "update_merged_hex"))
        }
    }

    @Test("Yjs-only content kinds read as Yjs reads them")
    func handcraftedContentRefs() throws {
        let v = try Self.load("handcrafted_content_refs.json")
        let doc = Doc(clientID: 999_999)
        try doc.applyUpdate(TestSupport.unhex(Self.lookup(v, "update_hex") ?? ""))
        guard let expected = v["expected_yjs"] else { Issue.record("no expected_yjs"); return }
        #expect(TestSupport.jsonEqual(doc.getArray("arr").toJSON(), expected["arr"] ?? .null), "arr = \(doc.getArray("arr").toJSON())")
        #expect(doc.getMap("m").keys == ["el", "hook", "xt"])
        let delta = doc.getText("txt").toDelta()
        #expect(delta.count == 2)
        if delta.count == 2 {
            #expect(delta[0].op == .insert("hi"))
            #expect(delta[1].op == .insertEmbed(["image": "x.png"]))
        }
    }

    @Test("fuzz_concurrent converges in emission and reverse order")
    func fuzzReverse() throws {
        let v = try Self.load("fuzz_concurrent.json")
        guard case .object(let scenarios)? = v["scenarios"] else { Issue.record("no scenarios"); return }
        #expect(scenarios.count == 20)
        for (name, s) in scenarios {
            guard case .object(let updates)? = s["updates"] else { continue }
            let bytes = updates.sorted { $0.0 < $1.0 }.compactMap { (_, h) -> [UInt8]? in
                if case .string(let x) = h { return TestSupport.unhex(x) } else { return nil }
            }
            let forward = Doc(clientID: 999_999)
            for u in bytes { try forward.applyUpdate(u) }
            let backward = Doc(clientID: 999_998)
            for u in bytes.reversed() { try backward.applyUpdate(u) }
            #expect(!backward.hasPending, "\(name): pending after reverse replay")
            #expect(forward.stateVector == backward.stateVector, "\(name)")
            #expect(forward.getText("t").toString() == backward.getText("t").toString(), "\(name)")
            #expect(forward.getMap("m").toJSON() == backward.getMap("m").toJSON(), "\(name)")
            if let expected = s["expected"] { Self.check(backward, expected, "\(name) reversed") }
        }
    }
}
