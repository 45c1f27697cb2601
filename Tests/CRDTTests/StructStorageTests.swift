import Testing
import TestBasics
@testable import CRDT

/// The per-client struct lists are chunked, and deletes in unformatted text
/// find their items through the sequence index: both must behave exactly as
/// the plain array and the walk they replace.
@Suite("struct storage")
struct StructStorageTests {
    /// Items with consecutive clocks of length 1, as a client's list holds.
    private static func item(_ clock: Int) -> Item {
        Item(id: ID(client: 1, clock: clock), left: nil, origin: nil, right: nil, rightOrigin: nil,
             parent: nil, parentSub: nil, content: .deleted(1))
    }

    @Test("a chunked list agrees with an array through inserts, removals and lookups", arguments: [1, 2, 3] as [UInt64])
    func chunkedListMatchesArray(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let list = ClientStructs()
        var model: [Item] = []
        for step in 0..<6_000 {
            let roll = Int.random(in: 0..<10, using: &rng)
            if roll < 4 || model.isEmpty {
                let x = Self.item(step)
                list.append(x)
                model.append(x)
            } else if roll < 7 {
                let at = Int.random(in: 0...model.count, using: &rng)
                let x = Self.item(step)
                list.insert(x, at: at)
                model.insert(x, at: at)
            } else {
                // Removals span chunk boundaries now and then.
                let lo = Int.random(in: 0..<model.count, using: &rng)
                let hi = min(model.count - 1, lo + Int.random(in: 0..<(roll == 9 ? 600 : 3), using: &rng))
                list.removeSubrange(lo...hi)
                model.removeSubrange(lo...hi)
            }
            guard step % 97 == 0 || step == 5_999 else { continue }
            #expect(list.count == model.count, "seed \(seed) step \(step)")
            #expect(list.all.map(ObjectIdentifier.init) == model.map(ObjectIdentifier.init), "seed \(seed) step \(step)")
            for _ in 0..<20 where !model.isEmpty {
                let i = Int.random(in: 0..<model.count, using: &rng)
                #expect(list[i] === model[i], "seed \(seed) step \(step) index \(i)")
            }
            var visited: [ObjectIdentifier] = []
            let from = model.isEmpty ? 0 : Int.random(in: 0..<model.count, using: &rng)
            list.forEachUnretained(from: from) { visited.append(ObjectIdentifier($0)) }
            #expect(visited == model[from...].map(ObjectIdentifier.init), "seed \(seed) step \(step) from \(from)")
            // The warming walk visits the same structs in the same order, warming each one before its body.
            var warmed: [ObjectIdentifier] = []
            var visitedWarm: [ObjectIdentifier] = []
            var visitedBeforeWarm = 0
            list.forEachUnretained(from: from, warming: { warmed.append(ObjectIdentifier($0)); return 0 }) {
                visitedWarm.append(ObjectIdentifier($0))
                if warmed.count < visitedWarm.count { visitedBeforeWarm += 1 }
            }
            #expect(visitedBeforeWarm == 0, "seed \(seed) step \(step)")
            #expect(visitedWarm == visited && warmed == visited, "seed \(seed) step \(step) from \(from)")
            #expect(list.first === model.first && list.last === model.last, "seed \(seed) step \(step)")
        }
    }

    @Test("findIndex finds the struct holding every clock across chunks")
    func findIndexAcrossChunks() {
        let list = ClientStructs()
        var clock = 0
        var starts: [Int] = []
        var rng = SeededRandom(seed: 9)
        for _ in 0..<2_000 {
            let length = Int.random(in: 1...7, using: &rng)
            starts.append(clock)
            list.append(Item(id: ID(client: 1, clock: clock), left: nil, origin: nil, right: nil, rightOrigin: nil,
                             parent: nil, parentSub: nil, content: .deleted(length)))
            clock += length
        }
        for probe in stride(from: 0, to: clock, by: 3) {
            let i = list.findIndex(probe)
            let s = list[i]
            #expect(s.id.clock <= probe && probe < s.id.clock + s.length, "clock \(probe) found index \(i)")
        }
        #expect(list.findIndex(clock - 1) == starts.count - 1)
    }

    @Test("deletes through the index split and delete what the walk does", arguments: [21, 22, 23, 24] as [UInt64])
    func indexedDeletesMatchWalk(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let indexed = Doc(clientID: 5), walking = Doc(clientID: 5)
        walking.walksToDelete = true
        // A second writer interleaves its items and tombstones with ours.
        let other = Doc(clientID: 6)
        var indexedUpdates: [[UInt8]] = [], walkingUpdates: [[UInt8]] = []
        indexed.onUpdate { u, _ in indexedUpdates.append(u) }
        walking.onUpdate { u, _ in walkingUpdates.append(u) }
        var otherUpdates: [[UInt8]] = []
        other.onUpdate { u, _ in otherUpdates.append(u) }
        let pieces = ["a", "bcd", "é", "😀x", "  ", "lorem ipsum"]
        for step in 0..<1_200 {
            let roll = Int.random(in: 0..<10, using: &rng)
            let length = indexed.getText("t").length
            if roll < 2 {
                // The other writer edits from what it has and everyone receives it.
                let t = other.getText("t")
                try t.insert(Self.boundary(Self.units(t), Int.random(in: 0...t.length, using: &rng)),
                             pieces[Int.random(in: 0..<pieces.count, using: &rng)])
                if t.length > 4, roll == 1 {
                    let units = Self.units(t)
                    let at = Self.boundary(units, Int.random(in: 0..<(t.length - 2), using: &rng))
                    try t.delete(at, count: Self.boundary(units, at + 1) == at + 1 ? 1 : 2)
                }
                for u in otherUpdates {
                    try indexed.applyUpdate(u)
                    try walking.applyUpdate(u)
                }
                otherUpdates = []
            } else if roll < 6 || length < 3 {
                let units = Self.units(indexed.getText("t"))
                let at = Self.boundary(units, Int.random(in: 0...length, using: &rng))
                let piece = pieces[Int.random(in: 0..<pieces.count, using: &rng)]
                for doc in [indexed, walking] {
                    if roll == 5 { try doc.getText("t").insertEmbed(at, .object([("image", .string("\(step).png"))])) } else {
                        try doc.getText("t").insert(at, piece)
                    }
                }
            } else {
                let units = Self.units(indexed.getText("t"))
                let from = Self.boundary(units, Int.random(in: 0..<length, using: &rng))
                let to = Self.boundary(units, min(length, from + Int.random(in: 1...(roll == 9 ? 40 : 3), using: &rng)))
                guard to > from else { continue }
                for doc in [indexed, walking] {
                    // Several deletes in one transaction now and then.
                    try doc.transact { _ in
                        try doc.getText("t").delete(from, count: to - from)
                        let rest = Self.units(doc.getText("t"))
                        if roll == 8, rest.count > from + 2 {
                            try doc.getText("t").delete(from, count: UTF16.isLeadSurrogate(rest[from]) ? 2 : 1)
                        }
                    }
                }
            }
            #expect(indexedUpdates.last == walkingUpdates.last, "seed \(seed) step \(step): transaction updates differ")
            for u in indexedUpdates { try other.applyUpdate(u) }
            indexedUpdates = []
            walkingUpdates = []
        }
        #expect(indexed.getText("t").toString() == walking.getText("t").toString(), "seed \(seed)")
        #expect(indexed.encodeStateAsUpdate(since: [:]) == walking.encodeStateAsUpdate(since: [:]), "seed \(seed)")
        #expect(indexed.inspectStructs() == walking.inspectStructs(), "seed \(seed)")
        #expect(indexed.getText("t").branch.indexInconsistency == nil, "seed \(seed)")
    }

    /// The text's UTF-16 units, an embed counting as one (U+FFFC).
    private static func units(_ text: YText) -> [UInt16] {
        text.toDelta().flatMap { d -> [UInt16] in
            if case .insert(let s) = d.op { return Array(s.utf16) }
            return [0xFFFC]
        }
    }

    /// `offset` moved back off the middle of a surrogate pair.
    private static func boundary(_ units: [UInt16], _ offset: Int) -> Int {
        guard offset > 0, offset < units.count else { return offset }
        return UTF16.isTrailSurrogate(units[offset]) ? offset - 1 : offset
    }
}
