import Testing
import TestBasics
import CRDT

/// Bad bytes never crash the engine, are refused with a typed error, and
/// leave the document exactly as it was.
@Suite("malformed input")
struct MalformedInputTests {
    /// A document with text, formatting, maps, arrays and nested types, and its updates.
    static func sample(seed: UInt64) throws -> (doc: Doc, updates: [[UInt8]]) {
        var rng = TestSupport.SeededRandom(seed: seed)
        let doc = Doc(clientID: 77)
        var updates: [[UInt8]] = []
        doc.onUpdate { u, _ in updates.append(u) }
        for _ in 0..<30 { try ConvergenceTests.randomEdit(doc, &rng) }
        return (doc, updates)
    }

    static func fingerprint(_ doc: Doc) throws -> String {
        "\(ConvergenceTests.snapshot(doc))|\(TestSupport.hex(try doc.encodeStateAsUpdate()))|\(doc.stateVector)"
    }

    /// Applies `bytes`; if refused, the error must be typed and nothing may change.
    static func applyChecked(_ target: Doc, _ bytes: [UInt8], _ context: String) throws -> Bool {
        let before = try fingerprint(target)
        do {
            try target.applyUpdate(bytes)
            return true
        } catch {
            #expect(error.offset != nil, "\(context): decoding error without offset: \(error)")
            #expect(try fingerprint(target) == before, "\(context): a refused update changed the document")
            return false
        }
    }

    @Test("every truncation of a valid update is refused and changes nothing", arguments: [1, 2, 3] as [UInt64])
    func truncated(seed: UInt64) throws {
        let (source, _) = try Self.sample(seed: seed)
        let full = try source.encodeStateAsUpdate()
        let target = Doc(clientID: 5)
        try target.getText("text").insert(0, "existing")
        for cut in 0..<full.count {
            let accepted = try Self.applyChecked(target, Array(full.prefix(cut)), "seed \(seed) cut \(cut)")
            #expect(!accepted, "seed \(seed): a \(cut)-byte prefix of a \(full.count)-byte update was accepted")
        }
        #expect(try Self.applyChecked(target, full, "full"))
    }

    @Test("bit flips never crash; refused ones change nothing", arguments: [11, 12, 13, 14] as [UInt64])
    func bitFlips(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let (_, updates) = try Self.sample(seed: seed)
        var refused = 0
        for round in 0..<400 {
            guard var bytes = updates.randomElement(using: &rng), !bytes.isEmpty else { continue }
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            }
            let target = Doc(clientID: 5)
            try target.getMap("map").set("keep", "me")
            if !(try Self.applyChecked(target, bytes, "seed \(seed) round \(round)")) { refused += 1 }
            // Whatever was accepted must still encode and reload.
            let reloaded = Doc(clientID: 6)
            try reloaded.applyUpdate(try target.encodeStateAsUpdate())
        }
        #expect(refused > 0, "seed \(seed): no flipped update was refused; the test exercises nothing")
    }

    @Test("random bytes are refused with typed errors", arguments: [21, 22] as [UInt64])
    func randomBytes(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let target = Doc(clientID: 5)
        try target.getText("text").insert(0, "stable")
        var accepted = 0
        for i in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if try Self.applyChecked(target, bytes, "seed \(seed) #\(i)") { accepted += 1 }
            #expect(throws: CRDTError.self) { _ = try decodeStateVector(bytes + [0xFF]) }
        }
        #expect(accepted < 200, "seed \(seed): \(accepted) random inputs accepted")
    }

    @Test("forged structure is refused: self references, duplicate clients, bad tags, huge counts")
    func forged() throws {
        let doc = Doc(clientID: 5)
        let cases: [(String, [UInt8])] = [
            ("origin at own clock", [1, 1, 9, 0, 0x84, 9, 0, 1, 0x61, 0]),
            ("client twice", [2, 1, 9, 0, 0x04, 1, 1, 0x74, 1, 0x61, 1, 9, 1, 0x04, 1, 1, 0x74, 1, 0x62, 0]),
            ("content ref 11", [1, 1, 9, 0, 0x0B, 0]),
            ("Any tag 115", [1, 1, 9, 0, 0x08, 1, 1, 0x6D, 1, 0x73, 0]),
            ("count larger than input", [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            ("trailing bytes", [0, 0, 0]),
            ("invalid UTF-8 string", [1, 1, 9, 0, 0x04, 1, 1, 0x74, 2, 0xC3, 0x28, 0]),
            ("zero-length GC", [1, 1, 9, 0, 0x00, 0, 0]),
            ("clock overflow", [1, 2, 9, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x05, 0x00, 0x05, 0]),
        ]
        for (name, bytes) in cases {
            do {
                try doc.applyUpdate(bytes)
                Issue.record("\(name): accepted")
            } catch {
                #expect(error.offset != nil, "\(name): \(error)")
            }
        }
        #expect(doc.stateVector.isEmpty)
    }
}

extension MalformedInputTests {
    @Test("absurdly deep nesting is cut off instead of exhausting the stack")
    func deepNesting() throws {
        // 5,000 maps, each nested in the previous one, as one forged update.
        var enc = Lib0Encoder()
        let client = 42
        let levels = 5_000
        enc.writeVarUInt(1)
        enc.writeVarUInt(levels)
        enc.writeVarUInt(client)
        enc.writeVarUInt(0)
        for i in 0..<levels {
            enc.writeUInt8(0x27)  // ContentType with a parentSub (map key), no origins
            if i == 0 {
                enc.writeVarUInt(1)
                enc.writeVarString("root")
            } else {
                enc.writeVarUInt(0)
                enc.writeVarUInt(client)
                enc.writeVarUInt(i - 1)
            }
            enc.writeVarString("k")
            enc.writeVarUInt(1)  // YMap
        }
        enc.writeVarUInt(0)
        let doc = Doc(clientID: 1)
        try doc.applyUpdate(enc.bytes)
        #expect(doc.stateVector[client] == levels)
        var depth = 0
        var current: YMap? = doc.getMap("root")
        while let m = current, case .map(let next)? = m.get("k") as YValue? {
            depth += 1
            current = next
        }
        #expect(depth == 200)
        // Everything still encodes, reloads and deletes without recursion trouble.
        let copy = Doc(clientID: 2)
        try copy.applyUpdate(try doc.encodeStateAsUpdate())
        try doc.getMap("root").delete("k")
        #expect(doc.getMap("root").toJSON() == .object([]))
        // Local edits are refused past the limit.
        var deep: YInput = .value(1)
        for _ in 0..<201 { deep = .map([("k", deep)]) }
        #expect(throws: CRDTError.self) { try doc.getMap("root").set("x", deep) }
    }
}
