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

/// A unit of change: every edit happens inside one. Observers and the
/// doc-level update callback run when the outermost transaction ends.
public final class Transaction {
    unowned let doc: Doc
    /// Client states before the transaction.
    let beforeState: [Int: Int]
    /// Client states after the transaction (filled at cleanup).
    var afterState: [Int: Int] = [:]
    /// What this transaction deleted.
    var deleteSet = DeleteSet()
    /// Types changed, in first-change order, with the map keys changed (nil = sequence).
    var changed: [ObjectIdentifier: (branch: Branch, keys: Set<String?>)] = [:]
    var changedOrder: [ObjectIdentifier] = []
    /// Structs split during the transaction, to be merged again at the end.
    var mergeStructs: [Item] = []
    /// Whether the change was made by this replica (false for applied updates).
    public internal(set) var local: Bool
    /// Whatever the caller passed as origin (e.g. a connection id).
    public let origin: (any Sendable)?
    /// Concurrent map overwrites integrated in this transaction.
    public internal(set) var conflicts: [MapConflict] = []
    var needFormattingCleanup = false
    var deepEvents: [(ObjectIdentifier, Branch, YEvent)] = []

    init(doc: Doc, origin: (any Sendable)?, local: Bool) {
        self.doc = doc
        self.origin = origin
        self.local = local
        self.beforeState = doc.store.stateVector()
    }

    func addChanged(_ branch: Branch, _ key: String?) {
        // Changes to a type created in this transaction, or deleted, are not events.
        if let item = branch.item, item.id.clock >= (beforeState[item.id.client] ?? 0) || item.deleted { return }
        let oid = ObjectIdentifier(branch)
        if changed[oid] == nil {
            changed[oid] = (branch, [key])
            changedOrder.append(oid)
        } else {
            changed[oid]!.keys.insert(key)
        }
    }

    /// Whether `item` was created in this transaction.
    func adds(_ item: Item) -> Bool {
        item.id.clock >= (beforeState[item.id.client] ?? 0)
    }

    /// Whether `item` was deleted in this transaction.
    func deletes(_ item: Item) -> Bool { deleteSet.contains(item.id) }
}
