import Testing
import TestBasics
import CRDT

/// Property: replicas that make random concurrent edits and receive each
/// other's updates in any order, with duplicates, end identical.
@Suite("convergence")
struct ConvergenceTests {
    struct Replica {
        let doc: Doc
        var log: [[UInt8]] = []
    }

    /// One random edit on `doc`, chosen from every kind the engine offers.
    static func randomEdit(_ doc: Doc, _ rng: inout TestSupport.SeededRandom) throws {
        let text = doc.getText("text")
        let map = doc.getMap("map")
        let array = doc.getArray("array")
        let alphabet = Array("abcdeé😀👍🏽中 \n")
        func word() -> String { String((0..<Int.random(in: 1...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }
        /// A UTF-16 offset that does not split a surrogate pair.
        func safeOffset(_ t: YText) -> Int {
            let s = t.toString()
            let chars = s.count
            let c = Int.random(in: 0...chars, using: &rng)
            return s.utf16.distance(from: s.startIndex, to: s.index(s.startIndex, offsetBy: c))
        }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1, 2:
            let attrs: [String: YAny]? = Bool.random(using: &rng) ? nil : (Bool.random(using: &rng) ? [:] : ["bold": true])
            try text.insert(safeOffset(text), word(), attributes: attrs)
        case 3:
            let a = safeOffset(text)
            let b = safeOffset(text)
            try text.delete(min(a, b), count: abs(a - b))
        case 4:
            let a = safeOffset(text)
            let b = safeOffset(text)
            let value: YAny = [.bool(true), .null, .string("#ff0000")].randomElement(using: &rng)!
            try text.format(min(a, b), length: abs(a - b), attributes: [["bold", "italic", "color"].randomElement(using: &rng)!: value])
        case 5:
            let key = ["title", "status", "owner"].randomElement(using: &rng)!
            if Bool.random(using: &rng) {
                try map.set(key, .value(.string(word())))
            } else {
                try map.set(key, .map([("n", .value(.number(Double(Int.random(in: 0...9, using: &rng)))))]))
            }
        case 6:
            try map.delete(["title", "status", "owner"].randomElement(using: &rng)!)
        case 7:
            let values: [YInput] = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                Bool.random(using: &rng) ? .value(.string(word())) : .text(word())
            }
            if Bool.random(using: &rng) { try array.push(values) } else { try array.insert(Int.random(in: 0...array.count, using: &rng), values) }
        case 8:
            if array.count > 0 {
                let i = Int.random(in: 0..<array.count, using: &rng)
                try array.delete(i, count: Int.random(in: 1...(array.count - i), using: &rng))
            }
        default:
            // Edit a nested text inside the array, if there is one.
            for i in 0..<array.count {
                if case .text(let t)? = array.get(i) {
                    try t.insert(safeOffset(t), word())
                    break
                }
            }
        }
    }

    static func snapshot(_ doc: Doc) -> String {
        let delta = doc.getText("text").toDelta().map { "\($0.op)|\(YAny.object($0.attributes))" }.joined(separator: ",")
        return "\(doc.getText("text").toString())#\(delta)#\(doc.getMap("map").toJSON())#\(doc.getArray("array").toJSON())"
    }

    @Test("random concurrent edits, random delivery order with duplicates, all replicas equal",
          arguments: Array(1...40) as [UInt64])
    func converges(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let count = Int.random(in: 2...5, using: &rng)
        let gc = seed % 3 != 0
        let replicas = (0..<count).map { i in Replica(doc: Doc(clientID: 100 + i * 37 + Int(seed % 7), gc: gc)) }
        var logs = [[[UInt8]]](repeating: [], count: count)
        for (i, r) in replicas.enumerated() {
            r.doc.onUpdate { update, txn in if txn.local { logs[i].append(update) } }
        }
        // Rounds of offline edits, each followed by partial, shuffled, duplicated delivery.
        for _ in 0..<Int.random(in: 3...8, using: &rng) {
            for r in replicas {
                for _ in 0..<Int.random(in: 0...6, using: &rng) { try Self.randomEdit(r.doc, &rng) }
            }
            for (to, r) in replicas.enumerated() {
                var batch: [[UInt8]] = []
                for from in 0..<count where from != to {
                    batch += logs[from].filter { _ in Int.random(in: 0..<3, using: &rng) > 0 }
                }
                if let d = batch.randomElement(using: &rng) { batch.append(d) }
                batch.shuffle(using: &rng)
                for u in batch { try r.doc.applyUpdate(u) }
            }
        }
        // Finally everyone gets everything, in a shuffled order with duplicates.
        // Receiving formatted text can make a replica clean up redundant format
        // markers in a transaction of its own, so deliver until nothing new appears.
        var delivered = [Int](repeating: 0, count: count * count)
        for round in 0... {
            #expect(round < 10, "seed \(seed): no quiescence")
            if round >= 10 { break }
            var sent = false
            for (to, r) in replicas.enumerated() {
                var all: [[UInt8]] = []
                for from in 0..<count where from != to {
                    all += logs[from][delivered[from * count + to]...]
                    delivered[from * count + to] = logs[from].count
                }
                if all.isEmpty { continue }
                sent = true
                all += all.prefix(3)
                all.shuffle(using: &rng)
                for u in all { try r.doc.applyUpdate(u) }
            }
            if !sent { break }
        }
        let first = Self.snapshot(replicas[0].doc)
        for r in replicas.dropFirst() {
            #expect(Self.snapshot(r.doc) == first, "seed \(seed): replicas diverged")
            #expect(r.doc.stateVector == replicas[0].doc.stateVector, "seed \(seed): state vectors differ")
            #expect(!r.doc.hasPending, "seed \(seed): pending left")
        }
        // A fresh replica loading any replica's state agrees too.
        let fresh = Doc(clientID: 9_999)
        try fresh.applyUpdate(try replicas[count - 1].doc.encodeStateAsUpdate())
        #expect(Self.snapshot(fresh) == first, "seed \(seed): loaded state differs")
        // Merged updates have the effect of applying them one by one.
        let merged = Doc(clientID: 9_998)
        try merged.applyUpdate(try Updates.merge(logs.flatMap { $0 }))
        #expect(Self.snapshot(merged) == first, "seed \(seed): mergeUpdates result differs")

    }
}
