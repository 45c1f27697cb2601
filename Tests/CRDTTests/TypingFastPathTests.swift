import Testing
import TestBasics
@testable import CRDT

/// Typing grows this client's newest item in place instead of creating an
/// item and merging it at the end of the transaction. An observed text takes
/// the general path (its events need the new ids), so the two must agree on
/// every byte.
@Suite("typing fast path")
struct TypingFastPathTests {
    @Test("grown in place or created and merged: the same updates, state and structs", arguments: [11, 12, 13, 14] as [UInt64])
    func sameBytes(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        let fast = Doc(clientID: 7), general = Doc(clientID: 7)
        var fastUpdates: [[UInt8]] = [], generalUpdates: [[UInt8]] = []
        fast.onUpdate { u, _ in fastUpdates.append(u) }
        general.onUpdate { u, _ in generalUpdates.append(u) }
        var events = 0
        general.getText("t").observe { _ in events += 1 }
        // Receivers of the updates: remote typing takes the fast path unless the text is observed.
        let fastRemote = Doc(clientID: 8), generalRemote = Doc(clientID: 8)
        var fastRemoteUpdates: [[UInt8]] = [], generalRemoteUpdates: [[UInt8]] = []
        fastRemote.onUpdate { u, _ in fastRemoteUpdates.append(u) }
        generalRemote.onUpdate { u, _ in generalRemoteUpdates.append(u) }
        var remoteEvents = 0
        generalRemote.getText("t").observe { _ in remoteEvents += 1 }
        let pieces = ["a", "bc", "é", "😀", " ", "xyz"]
        var cursor = 0
        for step in 0..<1_500 {
            let length = fast.getText("t").length
            let roll = Int.random(in: 0..<10, using: &rng)
            // Mostly typing at a cursor; sometimes jumping, deleting, or several edits in one transaction.
            let current = fast.getText("t").toString()
            if roll == 0 { cursor = Self.boundary(current, Int.random(in: 0...length, using: &rng)) }
            let piece = pieces[Int.random(in: 0..<pieces.count, using: &rng)]
            let deleteCount = roll == 1 && cursor > 0 ? cursor - Self.boundary(current, cursor - min(cursor, 2)) : 0
            let twice = roll == 2
            for doc in [fast, general] {
                try doc.transact { _ in
                    let t = doc.getText("t")
                    if deleteCount > 0 {
                        try t.delete(cursor - deleteCount, count: deleteCount)
                    } else {
                        try t.insert(cursor, piece)
                        if twice { try t.insert(cursor + piece.utf16.count, piece) }
                    }
                }
            }
            if deleteCount > 0 { cursor -= deleteCount } else { cursor += piece.utf16.count * (twice ? 2 : 1) }
            cursor = min(cursor, fast.getText("t").length)
            #expect(fastUpdates.last == generalUpdates.last, "seed \(seed) step \(step): transaction updates differ")
            if let u = fastUpdates.last {
                try fastRemote.applyUpdate(u)
                try generalRemote.applyUpdate(u)
                #expect(fastRemoteUpdates.last == generalRemoteUpdates.last, "seed \(seed) step \(step): remote updates differ")
            }
        }
        #expect(fastUpdates == generalUpdates, "seed \(seed)")
        #expect(fast.encodeStateAsUpdate(since: [:]) == general.encodeStateAsUpdate(since: [:]), "seed \(seed)")
        #expect(fast.inspectStructs() == general.inspectStructs(), "seed \(seed)")
        #expect(fast.getText("t").toString() == general.getText("t").toString())
        #expect(fast.getText("t").branch.indexInconsistency == nil)
        #expect(events == 1_500)
        #expect(remoteEvents == 1_500)
        #expect(fastRemote.encodeStateAsUpdate(since: [:]) == general.encodeStateAsUpdate(since: [:]), "seed \(seed)")
        #expect(fastRemote.encodeStateAsUpdate(since: [:]) == generalRemote.encodeStateAsUpdate(since: [:]), "seed \(seed)")
        #expect(fastRemote.inspectStructs() == generalRemote.inspectStructs(), "seed \(seed)")
        #expect(fastRemote.getText("t").toString() == general.getText("t").toString())
        #expect(fastRemote.getText("t").branch.indexInconsistency == nil)
    }

    @Test("backspacing joins the deleted run on the right: the structs of a split and a merge", arguments: [21, 22, 23, 24, 25] as [UInt64])
    func backspaceJoinsDeletedRun(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        // An after-transaction handler turns the shortcut off: `general` splits and merges as Yjs does.
        let fast = Doc(clientID: 7), general = Doc(clientID: 7)
        general.onAfterTransaction { _ in }
        var fastUpdates: [[UInt8]] = [], generalUpdates: [[UInt8]] = []
        fast.onUpdate { u, _ in fastUpdates.append(u) }
        general.onUpdate { u, _ in generalUpdates.append(u) }
        // A second writer, so that runs of several clients and deleted remote runs sit next to ours.
        let other = Doc(clientID: 9)
        var otherUpdates: [[UInt8]] = []
        other.onUpdate { u, _ in otherUpdates.append(u) }
        let pieces = ["a", "bc", "é", "😀", "xyz", "hello "]
        var cursor = 0
        for step in 0..<2_000 {
            let current = fast.getText("t").toString()
            let length = current.utf16.count
            let roll = Int.random(in: 0..<20, using: &rng)
            if roll == 0 { cursor = Self.boundary(current, Int.random(in: 0...length, using: &rng)) }
            if roll == 1 {
                // The other writer edits somewhere and both replicas receive it.
                let t = other.getText("t")
                let at = Self.boundary(t.toString(), Int.random(in: 0...t.length, using: &rng))
                if Bool.random(using: &rng), t.length > at + 2 {
                    try t.delete(at, count: Self.boundary(t.toString(), at + 2) - at)
                } else {
                    try t.insert(at, "<o>")
                }
                for u in otherUpdates { try fast.applyUpdate(u); try general.applyUpdate(u) }
                otherUpdates.removeAll()
                let received = fast.getText("t").toString()
                cursor = Self.boundary(received, min(cursor, received.utf16.count))
                continue
            }
            // Backspaces (most of them), a range deleted across items, or typing.
            var deleteAt = 0, deleteCount = 0
            if roll < 10 && cursor > 0 {
                deleteAt = Self.boundary(current, cursor - min(cursor, 1 + Int.random(in: 0..<3, using: &rng)))
                deleteCount = cursor - deleteAt
            } else if roll == 10 && length > 0 {
                deleteAt = Self.boundary(current, Int.random(in: 0..<length, using: &rng))
                deleteCount = Self.boundary(current, min(length, deleteAt + Int.random(in: 1...12, using: &rng))) - deleteAt
            }
            let piece = pieces[Int.random(in: 0..<pieces.count, using: &rng)]
            let typeAfter = roll == 11
            for doc in [fast, general] {
                try doc.transact { _ in
                    let t = doc.getText("t")
                    if deleteCount > 0 {
                        try t.delete(deleteAt, count: deleteCount)
                        if typeAfter { try t.insert(deleteAt, piece) }
                    } else {
                        try t.insert(cursor, piece)
                    }
                }
            }
            if deleteCount > 0 {
                if cursor > deleteAt { cursor = max(deleteAt, cursor - deleteCount) }
                if typeAfter && cursor >= deleteAt { cursor += piece.utf16.count }
            } else {
                cursor += piece.utf16.count
            }
            cursor = min(cursor, fast.getText("t").length)
            #expect(fastUpdates.last == generalUpdates.last, "seed \(seed) step \(step): transaction updates differ")
            if fastUpdates.count > 400 {
                // The other writer catches up now and then, so its edits land among ours.
                for u in fastUpdates { try other.applyUpdate(u) }
                fastUpdates.removeAll()
                generalUpdates.removeAll()
            }
        }
        #expect(fast.encodeStateAsUpdate(since: [:]) == general.encodeStateAsUpdate(since: [:]), "seed \(seed)")
        #expect(fast.inspectStructs() == general.inspectStructs(), "seed \(seed)")
        #expect(fast.getText("t").toString() == general.getText("t").toString(), "seed \(seed)")
        #expect(fast.getText("t").branch.indexInconsistency == nil, "seed \(seed)")
        // A replica built from the fast document's state reads the same.
        let loaded = Doc(clientID: 30)
        try loaded.applyUpdate(fast.encodeStateAsUpdate(since: [:]))
        #expect(loaded.getText("t").toString() == general.getText("t").toString(), "seed \(seed)")
        let deletedRuns = fast.inspectStructs().filter { $0.deleted && $0.length > 1 }.count
        #expect(deletedRuns > 20, "seed \(seed): the history should leave runs of backspaced text (\(deletedRuns))")
    }

    /// `offset`, or one less when it falls inside a surrogate pair (edits never split one).
    static func boundary(_ s: String, _ offset: Int) -> Int {
        let i = s.utf16.index(s.utf16.startIndex, offsetBy: offset)
        return i.samePosition(in: s.unicodeScalars) == nil ? offset - 1 : offset
    }

    @Test("an observer sees each keystroke inserted, even when the item it extends came from an earlier transaction")
    func eventsSeeTyping() throws {
        let doc = Doc(clientID: 1)
        let text = doc.getText("t")
        try text.insert(0, "ab")
        var deltas: [[TextDelta]] = []
        text.observe { deltas.append($0.delta) }
        try text.insert(2, "c")
        try text.insert(3, "d")
        #expect(text.toString() == "abcd")
        #expect(deltas == [[TextDelta(.retain(2)), TextDelta(.insert("c"))], [TextDelta(.retain(3)), TextDelta(.insert("d"))]])
        #expect(doc.inspectStructs().count == 1, "typing still ends as one struct")
    }

    @Test("a remote observer sees each keystroke inserted too")
    func remoteEventsSeeTyping() throws {
        let writer = Doc(clientID: 1), reader = Doc(clientID: 2)
        var updates: [[UInt8]] = []
        writer.onUpdate { u, _ in updates.append(u) }
        try writer.getText("t").insert(0, "ab")
        try reader.applyUpdate(updates[0])
        var deltas: [[TextDelta]] = []
        reader.getText("t").observe { deltas.append($0.delta) }
        try writer.getText("t").insert(2, "c")
        try reader.applyUpdate(updates[1])
        #expect(reader.getText("t").toString() == "abc")
        #expect(deltas == [[TextDelta(.retain(2)), TextDelta(.insert("c"))]])
        #expect(reader.inspectStructs().count == 1)
    }
}
