import Testing
@testable import CRDT

/// The sequence index must describe the item list exactly after every kind of change.
@Suite("sequence index")
struct SequenceIndexTests {
    @Test("random local edits keep the index exact", arguments: [1, 2, 3] as [UInt64])
    func localEdits(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let doc = Doc(clientID: 1)
        let t = doc.getText("t")
        for step in 0..<3_000 {
            if step % 4 == 3 && t.length > 2 {
                let i = Int.random(in: 0..<(t.length - 1), using: &rng)
                try t.delete(i, count: Int.random(in: 1...min(3, t.length - i), using: &rng))
            } else {
                try t.insert(Int.random(in: 0...t.length, using: &rng), String(repeating: "x", count: Int.random(in: 1...3, using: &rng)))
            }
            if let problem = t.branch.indexInconsistency {
                Issue.record("seed \(seed) step \(step): \(problem)")
                return
            }
        }
    }

    @Test("remote updates, merges and GC keep the index exact", arguments: [4, 5] as [UInt64])
    func remoteEdits(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let a = Doc(clientID: 1)
        let b = Doc(clientID: 2)
        var fromA: [[UInt8]] = []
        var fromB: [[UInt8]] = []
        a.onUpdate { u, txn in if txn.local { fromA.append(u) } }
        b.onUpdate { u, txn in if txn.local { fromB.append(u) } }
        for round in 0..<60 {
            for (doc, _) in [(a, 0), (b, 1)] {
                for _ in 0..<20 { try ConvergenceTests.randomEdit(doc, &rng) }
            }
            for u in fromB { try a.applyUpdate(u) }
            for u in fromA { try b.applyUpdate(u) }
            fromA.removeAll()
            fromB.removeAll()
            for doc in [a, b] {
                for (name, branch) in [("text", doc.getText("text").branch), ("array", doc.getArray("array").branch)] {
                    if let problem = branch.indexInconsistency {
                        Issue.record("seed \(seed) round \(round) \(name): \(problem)")
                        return
                    }
                }
            }
        }
        // Formatting cleanups made while receiving are edits of their own: exchange them too.
        for _ in 0..<3 {
            for u in fromB { try a.applyUpdate(u) }
            for u in fromA { try b.applyUpdate(u) }
            fromA.removeAll()
            fromB.removeAll()
        }
        #expect(ConvergenceTests.snapshot(a) == ConvergenceTests.snapshot(b))
    }
}
