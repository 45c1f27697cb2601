import Testing
import TestBasics
import CRDT

/// Property: a document kept as encoded updates answers like a `Doc` that
/// integrated the same updates (what the sync server relies on).
@Suite("encoded document")
struct EncodedDocumentTests {
    /// Updates of replicas that edit concurrently and sometimes sync, so that
    /// later updates refer to other clients' items.
    static func history(seed: UInt64, rng: inout TestSupport.SeededRandom) throws -> [[UInt8]] {
        let replicas = (0..<3).map { Doc(clientID: 200 + $0 * 11 + Int(seed % 5)) }
        var updates: [[UInt8]] = []
        for r in replicas { r.onUpdate { u, txn in if txn.local { updates.append(u) } } }
        for _ in 0..<Int.random(in: 15...40, using: &rng) {
            let r = replicas.randomElement(using: &rng)!
            try ConvergenceTests.randomEdit(r, &rng)
            if Int.random(in: 0..<4, using: &rng) == 0, let u = updates.randomElement(using: &rng) {
                try replicas.randomElement(using: &rng)!.applyUpdate(u)
            }
        }
        return updates
    }

    @Test("random histories delivered shuffled with duplicates: no-op detection, state vector, full state and diffs match a Doc",
          arguments: Array(1...30) as [UInt64])
    func matchesDoc(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let updates = try Self.history(seed: seed, rng: &rng)
        var delivery = updates + updates.filter { _ in Int.random(in: 0..<4, using: &rng) == 0 }
        delivery.shuffle(using: &rng)

        var encoded = EncodedDocument()
        let reference = Doc(clientID: 1, gc: false)
        let partial = Doc(clientID: 2)
        let partialCount = Int.random(in: 0...delivery.count, using: &rng)
        for (i, u) in delivery.enumerated() {
            let addition = try encoded.addition(of: u)
            let before = try reference.encodeStateAsUpdate()
            try reference.applyUpdate(u)
            if addition.isEmpty {
                #expect(try reference.encodeStateAsUpdate() == before, "seed \(seed): update \(i) called a no-op changed the document")
            } else {
                encoded.append(u, addition)
            }
            if i < partialCount { try partial.applyUpdate(u) }
        }
        #expect(encoded.updates.count <= updates.count, "seed \(seed): a duplicate was kept")
        #expect(encoded.stateVector == reference.stateVector, "seed \(seed): state vectors differ")
        let expected = ConvergenceTests.snapshot(reference)

        let loaded = Doc(clientID: 3)
        try loaded.applyUpdate(try encoded.merged())
        #expect(ConvergenceTests.snapshot(loaded) == expected, "seed \(seed): full state differs")

        try partial.applyUpdate(try encoded.diff(since: partial.stateVector))
        #expect(ConvergenceTests.snapshot(partial) == expected, "seed \(seed): diff left the partial replica behind")
        #expect(!partial.hasPending, "seed \(seed): diff left structs pending")

        // A peer with everything gets the deletions alone, as the merged update's diff would give them.
        let upToDate = try encoded.diff(since: reference.stateVector)
        #expect(upToDate == (try Updates.diff(try encoded.merged(), stateVector: encodeStateVector(reference.stateVector))),
                "seed \(seed): the up-to-date answer differs from the decoded diff")
        let copy = Doc(clientID: 6)
        try copy.applyUpdate(try encoded.merged())
        let before = try copy.encodeStateAsUpdate()
        try copy.applyUpdate(upToDate)
        #expect(try copy.encodeStateAsUpdate() == before, "seed \(seed): the up-to-date answer changed an up-to-date peer")

        // A compaction of the first updates (a Doc's snapshot) changes no answer.
        let folded = Int.random(in: 0...encoded.updates.count, using: &rng)
        let compactor = Doc(clientID: 4)
        for u in encoded.updates.prefix(folded) { try compactor.applyUpdate(u) }
        var compacted = encoded
        compacted.replaceFirst(folded, with: try compactor.encodeStateAsUpdate())
        #expect(compacted.updates.count == encoded.updates.count - folded + 1)
        #expect(compacted.byteCount == compacted.updates.reduce(0) { $0 + $1.count })
        let reloaded = Doc(clientID: 5)
        try reloaded.applyUpdate(try compacted.merged())
        #expect(ConvergenceTests.snapshot(reloaded) == expected, "seed \(seed): compacted state differs")
        for u in updates { #expect(try compacted.addition(of: u).isEmpty, "seed \(seed): a held update counts as new after compaction") }
    }

    @Test("malformed updates are refused with a typed error; a deletion of unknown clocks counts as new", arguments: [7, 8, 9] as [UInt64])
    func malformedAndPendingDeletes(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let updates = try Self.history(seed: seed, rng: &rng)
        var encoded = EncodedDocument()
        for u in updates { try encoded.load(u) }
        let held = encoded
        for _ in 0..<200 {
            var bad = updates.randomElement(using: &rng)!
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bad = Array(bad.prefix(Int.random(in: 0..<bad.count, using: &rng)))
            case 1: bad[Int.random(in: 0..<bad.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            default: bad += [UInt8.random(in: 0...255, using: &rng)]
            }
            do {
                _ = try encoded.addition(of: bad)
                // Some flips still decode (another character, another clock): then a Doc takes them too.
                try Doc(clientID: 6).applyUpdate(bad)
            } catch {
                // A Doc refuses exactly what the encoded document refuses.
                #expect(throws: CRDTError.self) { try Doc(clientID: 6).applyUpdate(bad) }
            }
        }
        #expect(encoded.updates == held.updates && encoded.stateVector == held.stateVector)

        // Deleting clocks nobody holds yet: kept (a Doc would hold it pending).
        let doc = Doc(clientID: 77)
        try doc.getText("t").insert(0, "abc")
        let insert = try doc.encodeStateAsUpdate()
        var deletion: [UInt8] = []
        doc.onUpdate { u, _ in deletion = u }
        try doc.getText("t").delete(0, count: 2)
        var fresh = EncodedDocument()
        let addition = try fresh.addition(of: deletion)
        #expect(!addition.isEmpty)
        fresh.append(deletion, addition)
        #expect(try fresh.addition(of: deletion).isEmpty)
        #expect(fresh.stateVector.isEmpty)
        try fresh.load(insert)
        #expect(fresh.stateVector == [77: 3])
        let result = Doc(clientID: 78)
        try result.applyUpdate(try fresh.merged())
        #expect(result.getText("t").toString() == "c")
    }
}
