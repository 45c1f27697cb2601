import Testing
import Foundation
import TestBasics
@testable import CRDT

/// Update format v2 (spec 4): golden vectors, round trips, malformed input,
/// and a differential check against Yjs' own converter.
@Suite("update v2", .serialized)
struct UpdateV2Tests {
    @Test("every v1/v2 vector pair converts byte for byte, both ways")
    func vectors() throws {
        let file = try TestSupport.readJSON(TestSupport.vectorsDir.appendingPathComponent("update_v2_format.json"))
        guard case .object(let pairs)? = file["pairs"] else { Issue.record("no pairs"); return }
        #expect(pairs.count == 16)
        for (name, pair) in pairs {
            guard let v1Hex = pair["update_v1_hex"]?.stringValue, let v2Hex = pair["v2_hex"]?.stringValue else {
                Issue.record("\(name): missing hex")
                continue
            }
            let v1 = TestSupport.unhex(v1Hex), v2 = TestSupport.unhex(v2Hex)
            #expect(TestSupport.hex(try convertUpdateV1ToV2(v1)) == v2Hex, "\(name): v1 → v2")
            // v2 → v1 may write Any numbers and parentSub flags as Yjs re-encodes them; it must mean the same.
            let back = try convertUpdateV2ToV1(v2)
            #expect(TestSupport.hex(try convertUpdateV1ToV2(back)) == v2Hex, "\(name): v2 → v1 → v2")
            let viaV1 = Doc(clientID: 1), viaV2 = Doc(clientID: 1)
            try viaV1.applyUpdate(v1)
            try viaV2.applyUpdateV2(v2)
            // Not the fingerprint with the state vector printed as a dictionary: its order may differ between documents.
            #expect(ConvergenceTests.snapshot(viaV1) == ConvergenceTests.snapshot(viaV2), "\(name): documents differ")
            #expect(try viaV1.encodeStateAsUpdate() == viaV2.encodeStateAsUpdate(), "\(name): states differ")
            #expect(viaV1.stateVector == viaV2.stateVector, "\(name): state vectors differ")
        }
    }

    @Test("documents and their transaction updates survive v2 unchanged", arguments: [31, 32, 33, 34, 35] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let doc = Doc(clientID: 90 + Int(seed))
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        for _ in 0..<200 { try ConvergenceTests.randomEdit(doc, &rng) }
        for (i, u) in updates.enumerated() {
            let back = try convertUpdateV2ToV1(try convertUpdateV1ToV2(u))
            // Equal but for the map-key flag of items with an origin, which conversion drops as Yjs does.
            #expect(DifferentialTests.equivalent(TestSupport.hex(back), TestSupport.hex(u)), "seed \(seed): update \(i) changed through v2: \(TestSupport.hex(u)) became \(TestSupport.hex(back))")
        }
        let copy = Doc(clientID: 3)
        try copy.applyUpdateV2(try doc.encodeStateAsUpdateV2())
        #expect(ConvergenceTests.snapshot(copy) == ConvergenceTests.snapshot(doc), "seed \(seed)")
        #expect(try copy.encodeStateAsUpdate() == doc.encodeStateAsUpdate(), "seed \(seed)")
        // A diff against a state vector, in v2, brings a partial replica up to date.
        let partial = Doc(clientID: 4)
        for u in updates.prefix(updates.count / 2) { try partial.applyUpdate(u) }
        try partial.applyUpdateV2(try doc.encodeStateAsUpdateV2(since: partial.encodeStateVector()))
        #expect(ConvergenceTests.snapshot(partial) == ConvergenceTests.snapshot(doc), "seed \(seed): diff")
        // Merging and diffing v2 updates without a document.
        let v2Updates = try updates.map { u throws(CRDTError) in try convertUpdateV1ToV2(u) }
        let merged = try Updates.mergeV2(v2Updates)
        #expect(try convertUpdateV2ToV1(merged) == Updates.merge(updates), "seed \(seed): merge")
        #expect(try Updates.stateVector(ofV2: merged) == doc.encodeStateVector(), "seed \(seed): state vector of a merged update")
        let half = Doc(clientID: 5)
        for u in updates.prefix(updates.count / 3) { try half.applyUpdate(u) }
        try half.applyUpdateV2(try Updates.diffV2(merged, stateVector: half.encodeStateVector()))
        #expect(ConvergenceTests.snapshot(half) == ConvergenceTests.snapshot(doc), "seed \(seed): diff of a merged update")
    }

    @Test("truncated and bit-flipped v2 updates are refused with offsets and change nothing", arguments: [41, 42] as [UInt64])
    func malformed(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let (source, updates) = try MalformedInputTests.sample(seed: seed)
        let full = try source.encodeStateAsUpdateV2()
        let target = Doc(clientID: 5)
        try target.getText("text").insert(0, "existing")
        let before = try MalformedInputTests.fingerprint(target)
        for cut in 0..<full.count {
            do {
                try target.applyUpdateV2(Array(full.prefix(cut)))
                Issue.record("seed \(seed): a \(cut)-byte prefix of a \(full.count)-byte v2 update was accepted")
            } catch {
                #expect(error.offset != nil, "seed \(seed) cut \(cut): \(error)")
            }
        }
        #expect(try MalformedInputTests.fingerprint(target) == before, "seed \(seed): refused updates changed the document")
        let v2Updates = try updates.map { u throws(CRDTError) in try convertUpdateV1ToV2(u) }
        var refused = 0
        for _ in 0..<400 {
            guard var bytes = v2Updates.randomElement(using: &rng), !bytes.isEmpty else { continue }
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            let doc = Doc(clientID: 5)
            try doc.getMap("map").set("keep", "me")
            let was = try MalformedInputTests.fingerprint(doc)
            do { try doc.applyUpdateV2(bytes) } catch {
                refused += 1
                #expect(error.offset != nil, "seed \(seed): \(error)")
                #expect(try MalformedInputTests.fingerprint(doc) == was, "seed \(seed): a refused update changed the document")
            }
        }
        #expect(refused > 0, "seed \(seed): no flipped update was refused; the test exercises nothing")
    }

    @Test("forged v2: unknown feature flag, run lengths claiming billions of structs, oversized columns")
    func forged() throws {
        // Feature flag 1.
        #expect(throws: CRDTError.self) { try convertUpdateV2ToV1([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]) }
        // One section of 2^40 GC structs: the info column says "0 forever", the length column "1 forever".
        var rest = Lib0Encoder()
        rest.writeVarUInt(1)
        rest.writeVarUInt(1 << 40)
        rest.writeVarUInt(0)
        var forged = Lib0Encoder()
        forged.writeVarUInt(0)
        forged.writeVarBytes([])              // key clock
        forged.writeVarBytes([0x01])          // client: 1
        forged.writeVarBytes([])
        forged.writeVarBytes([])
        forged.writeVarBytes([0x00])          // info: GC, repeating
        forged.writeVarBytes([0x00])          // strings: empty
        forged.writeVarBytes([])
        forged.writeVarBytes([])
        forged.writeVarBytes([0x41, 0x00])    // lengths: a run of 1s (two of them, then the column ends)
        forged.bytes.append(contentsOf: rest.bytes)
        let error = #expect(throws: CRDTError.self) { try convertUpdateV2ToV1(forged.bytes) }
        #expect(error?.code == .invalidLength, "\(String(describing: error))")
        // A column longer than the input.
        #expect(throws: CRDTError.self) { try convertUpdateV2ToV1([0, 0x7F, 0]) }
        // The empty update is valid and means nothing.
        let empty: [UInt8] = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(try convertUpdateV2ToV1(empty) == [0, 0])
        #expect(try convertUpdateV1ToV2([0, 0]) == empty)
    }

    /// Debian's Yjs 13.5 writes delete-set clients in the order it holds them
    /// (as read, or as its store met them); 13.6 (the spec) sorts them in
    /// descending order, as we do. Two v2 updates that differ only so have the
    /// same nine columns, and the same structs and deletions.
    static func differOnlyInDeleteSetOrder(_ a: [UInt8], _ b: [UInt8]) throws -> Bool {
        func columns(_ bytes: [UInt8]) throws -> [[UInt8]] {
            var dec = Lib0Decoder(bytes)
            _ = try dec.readVarUInt()
            return try (0..<9).map { _ throws(CRDTError) in try dec.readVarBytes() }
        }
        guard a != b, try columns(a) == columns(b) else { return false }
        return DifferentialTests.equivalent(TestSupport.hex(try convertUpdateV2ToV1(a)), TestSupport.hex(try convertUpdateV2ToV1(b)))
    }

    @Test("every update of the 500 generated scenarios: Yjs converts it to the same v2 bytes and reads ours")
    func differential() async throws {
        let p = try await DifferentialTests.prepared()
        var seen = Set<String>()
        var updates: [String] = []
        var states = Set<String>()
        let yjs = p.dir.appendingPathComponent("yjs")
        for name in try FileManager.default.contentsOfDirectory(atPath: yjs.path).sorted() where name.hasSuffix(".json") {
            guard case .object(let clients)? = try TestSupport.readJSON(yjs.appendingPathComponent(name))["clients"] else { continue }
            for (_, client) in clients {
                var hexes: [String] = []
                if let s = client["state"]?.stringValue {
                    hexes.append(s)
                    states.insert(s)
                }
                for field in ["updates", "received"] {
                    if case .array(let us)? = client[field] { hexes += us.compactMap(\.stringValue) }
                }
                for h in hexes where seen.insert(h).inserted { updates.append(h) }
            }
        }
        #expect(updates.count > 2_000, "only \(updates.count) distinct updates")
        var cases: [YAny] = []
        for h in updates {
            cases.append(.object([("v1", .string(h)), ("ours", .string(TestSupport.hex(try convertUpdateV1ToV2(TestSupport.unhex(h))))),
                                  ("doc", .bool(states.contains(h)))]))
        }
        guard let results = try await DifferentialTests.runConformance("v2-check.mjs", cases, name: "v2") else { return }
        var identical = 0, deleteSetOrder = 0, documents = 0, documentsInOtherOrder = 0
        var failures: [String] = []
        for (h, r) in zip(updates, results) {
            let v1 = TestSupport.unhex(h)
            let ours = try convertUpdateV1ToV2(v1)
            if let problem = r["problem"]?.stringValue {
                failures.append("Yjs did not read our v2 of \(h.prefix(40))…: \(problem)")
            } else if let theirs = r["theirsState"]?.stringValue, let mine = r["oursState"]?.stringValue, theirs != mine {
                // Pending deletions keep the order they arrived in (13.5): then only that order may differ.
                if try !Self.differOnlyInDeleteSetOrder(TestSupport.unhex(theirs), TestSupport.unhex(mine)) { failures.append("Yjs reads our v2 of \(h.prefix(40))… differently") }
            }
            guard let theirsHex = r["yjs"]?.stringValue else { continue }
            // Our reader must take Yjs' v2 to the same structs and deletions.
            let back = try convertUpdateV2ToV1(TestSupport.unhex(theirsHex))
            if !DifferentialTests.equivalent(TestSupport.hex(back), h) { failures.append("Yjs' v2 of \(h.prefix(40))… reads back differently") }
            // A document loaded from a full state encodes as Yjs' encodeStateAsUpdateV2 does.
            if let docHex = r["docV2"]?.stringValue {
                let doc = Doc(clientID: 1)
                try doc.applyUpdate(v1)
                let mine = try doc.encodeStateAsUpdateV2()
                if TestSupport.hex(mine) == docHex {
                    documents += 1
                } else if try Self.differOnlyInDeleteSetOrder(mine, TestSupport.unhex(docHex)) {
                    documentsInOtherOrder += 1
                } else {
                    failures.append("document v2 differs for \(h): ours \(TestSupport.hex(mine)) Yjs \(docHex)")
                }
            }
            if TestSupport.hex(ours) == theirsHex {
                identical += 1
            } else if try Self.differOnlyInDeleteSetOrder(ours, TestSupport.unhex(theirsHex)) {
                deleteSetOrder += 1
            } else {
                failures.append("v2 bytes differ for \(h.prefix(40))…: ours \(TestSupport.hex(ours).prefix(60)) Yjs \(theirsHex.prefix(60))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(updates.count):\n\(failures.prefix(10).joined(separator: "\n"))")
        #expect(identical + deleteSetOrder == updates.count)
        #expect(identical > updates.count * 3 / 4, "\(identical) identical, \(deleteSetOrder) differ only in 13.5's delete-set order")
        #expect(documents + documentsInOtherOrder == states.count)
        #expect(documents > states.count / 3, "\(documents) of \(states.count) document encodings identical")
        print("v2 differential: \(updates.count) updates, \(identical) byte-identical to Yjs 13.5, \(deleteSetOrder) differ only in delete-set client order; \(documents) of \(states.count) documents encode identically, \(documentsInOtherOrder) but for that order")
    }
}
