/// A concurrent overwrite of a map key, reported when an integrated map
/// entry replaced (or lost to) a value its author had not seen.
public struct MapConflict: Sendable, Equatable {
    /// The key that was set concurrently.
    public var key: String
    /// Path of the map from its root: the root name, then keys and indexes.
    public var path: [PathSegment]
    /// The value every replica now shows.
    public var winner: YAny
    /// The value that was dropped.
    public var loser: YAny
    public var winnerClient: Int
    public var loserClient: Int
}

/// One step of a path into nested shared types.
public enum PathSegment: Sendable, Equatable, CustomStringConvertible {
    case key(String)
    case index(Int)

    public var description: String {
        switch self {
        case .key(let k): return k
        case .index(let i): return String(i)
        }
    }
}

/// Which keys of one type a transaction changed: the sequence, map keys, or both.
struct ChangedKeys {
    var sequence = false
    var keys = Set<String>()

    mutating func insert(_ key: String?) {
        if let key { keys.insert(key) } else { sequence = true }
    }
}

/// A unit of change: every edit happens inside one. Observers and the
/// doc-level update callback run when the outermost transaction ends.
public final class Transaction {
    unowned(unsafe) let doc: Doc
    /// Clients the transaction added structs for, in the order they were
    /// first touched, and each one's state before the transaction (others
    /// still have their old state). Arrays searched linearly while short:
    /// a transaction almost always touches one client, and hashing on every
    /// integrated item cost more than the search.
    @exclusivity(unchecked) private(set) var touchedOrder: [Int] = []
    @exclusivity(unchecked) private var touchedBefore: [Int] = []
    /// Client → slot in the arrays above, built once many clients are touched.
    @exclusivity(unchecked) private var touchedSlots: [Int: Int] = [:]
    private static let linearSearchLimit = 8
    /// What this transaction deleted.
    @exclusivity(unchecked) var deleteSet = DeleteSet()
    /// Types changed, in first-change order, with what changed in them.
    @exclusivity(unchecked) var changedBranches: [Branch] = []
    @exclusivity(unchecked) var changedKeys: [ChangedKeys] = []
    /// The type whose sequence was last noted as changed: every keystroke
    /// notes its text again, and this answers that without the arrays.
    @exclusivity(unchecked) private unowned(unsafe) var lastSequenceChange: Branch?
    /// Structs split during the transaction, to be merged again at the end.
    @exclusivity(unchecked) var mergeStructs: [Item] = []
    /// Whether the change was made by this replica (false for applied updates).
    @exclusivity(unchecked) public internal(set) var local: Bool
    /// Whatever the caller passed as origin (e.g. a connection id).
    @exclusivity(unchecked) public private(set) var origin: (any Sendable)?
    /// Whether the transaction added or deleted anything (what decides if
    /// ``Doc/onUpdate(_:)`` hands out an update for it).
    public var changedDocument: Bool { addedStructs || !deleteSet.isEmpty }

    /// Concurrent map overwrites integrated in this transaction.
    @exclusivity(unchecked) public internal(set) var conflicts: [MapConflict] = []
    @exclusivity(unchecked) var needFormattingCleanup = false
    @exclusivity(unchecked) var deepEvents: [(ObjectIdentifier, Branch, YEvent)] = []

    init(doc: Doc, origin: (any Sendable)?, local: Bool) {
        self.doc = doc
        self.origin = origin
        self.local = local
    }

    /// Makes a finished transaction that nobody else holds new again,
    /// keeping its arrays' storage: a stream of one-edit transactions then
    /// stops allocating and freeing half a dozen buffers per edit.
    func reuse(origin: (any Sendable)?, local: Bool) {
        self.origin = origin
        self.local = local
        touchedOrder.removeAllKeepingStorage()
        touchedBefore.removeAllKeepingStorage()
        if !touchedSlots.isEmpty { touchedSlots = [:] }
        deleteSet.removeAll()
        changedBranches.removeAllKeepingStorage()
        changedKeys.removeAllKeepingStorage()
        lastSequenceChange = nil
        mergeStructs.removeAllKeepingStorage()
        if !conflicts.isEmpty { conflicts = [] }
        needFormattingCleanup = false
        if !deepEvents.isEmpty { deepEvents = [] }
    }

    /// The state of `client` before this transaction.
    @inline(__always) func beforeState(_ client: Int) -> Int {
        if let slot = touchedSlot(client) { return touchedBefore[slot] }
        return doc.store.state(client)
    }

    @inline(__always) private func touchedSlot(_ client: Int) -> Int? {
        if touchedOrder.count <= Self.linearSearchLimit { return touchedOrder.firstIndex(of: client) }
        return touchedSlots[client]
    }

    /// Records that a struct of `client` is about to be added.
    @inline(__always) func willAdd(client: Int) {
        guard touchedSlot(client) == nil else { return }
        touchedOrder.append(client)
        touchedBefore.append(doc.store.state(client))
        if touchedOrder.count > Self.linearSearchLimit {
            if touchedSlots.isEmpty {
                for (slot, c) in touchedOrder.enumerated() { touchedSlots[c] = slot }
            } else {
                touchedSlots[client] = touchedOrder.count - 1
            }
        }
    }

    /// Whether any client's state advanced.
    var addedStructs: Bool { !touchedOrder.isEmpty }

    func addChanged(_ branch: Branch, _ key: String?) {
        if key == nil, let last = lastSequenceChange, last === branch { return }
        // Changes to a type created in this transaction, or deleted, are not events.
        if let item = branch.item, item.id.clock >= beforeState(item.id.client) || item.deleted { return }
        if let i = changedBranches.lastIndex(where: { $0 === branch }) {
            changedKeys[i].insert(key)
        } else {
            changedBranches.append(branch)
            var k = ChangedKeys()
            k.insert(key)
            changedKeys.append(k)
        }
        if key == nil { lastSequenceChange = branch }
    }

    func removeChanged(_ branch: Branch) {
        if lastSequenceChange === branch { lastSequenceChange = nil }
        if let i = changedBranches.firstIndex(where: { $0 === branch }) {
            changedBranches.remove(at: i)
            changedKeys.remove(at: i)
        }
    }

    /// Whether `item` was created in this transaction.
    func adds(_ item: Item) -> Bool {
        item.id.clock >= beforeState(item.id.client)
    }

    /// Whether `item` was deleted in this transaction.
    func deletes(_ item: Item) -> Bool { deleteSet.contains(item.id) }
}

extension Array {
    /// Removes every element, keeping the storage. Element by element: the
    /// arrays emptied this way hold a handful of elements, and
    /// `removeAll(keepingCapacity:)` takes a generic path costing more than that.
    @inline(__always) mutating func removeAllKeepingStorage() {
        while !isEmpty { removeLast() }
    }
}
