import Testing
import TestBasics
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
        /// Delivers what each side produced; cleanups made while receiving wait for the next call.
        func exchange() throws {
            let toA = fromB
            let toB = fromA
            fromA.removeAll()
            fromB.removeAll()
            for u in toA { try a.applyUpdate(u) }
            for u in toB { try b.applyUpdate(u) }
        }
        for round in 0..<60 {
            for (doc, _) in [(a, 0), (b, 1)] {
                for _ in 0..<20 { try ConvergenceTests.randomEdit(doc, &rng) }
            }
            try exchange()
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
        for _ in 0..<3 { try exchange() }
        #expect(a.stateVector == b.stateVector, "seed \(seed)")
        #expect(!a.hasPending && !b.hasPending, "seed \(seed)")
        var dsa = try DecodedUpdate.decode(try a.encodeStateAsUpdate()).deleteSet
        var dsb = try DecodedUpdate.decode(try b.encodeStateAsUpdate()).deleteSet
        dsa.sortAndMerge()
        dsb.sortAndMerge()
        func units(_ ds: DeleteSet) -> Set<ID> {
            var out = Set<ID>()
            for (c, rs) in ds.clients { for r in rs { for k in r.clock..<(r.clock + r.length) { out.insert(ID(client: c, clock: k)) } } }
            return out
        }
        let ua = units(dsa)
        let ub = units(dsb)
        #expect(ua == ub, "seed \(seed): only in a: \(ua.subtracting(ub).sorted { ($0.client, $0.clock) < ($1.client, $1.clock) }), only in b: \(ub.subtracting(ua).sorted { ($0.client, $0.clock) < ($1.client, $1.clock) })")
        #expect(ConvergenceTests.snapshot(a) == ConvergenceTests.snapshot(b))
    }
}
