/// Pending structs as one decoded update plus, per client, the lowest clock
/// whose arrival may make them integrable.
struct PendingStructs {
    var update: DecodedUpdate
    var missing: [Int: Int]
}

/// All integrated structs of a document, per client, sorted by clock and
/// contiguous from clock 0 (spec 2.2).
final class StructStore {
    @exclusivity(unchecked) private(set) var clients: [Int: ClientStructs] = [:]
    /// The last list looked up: edits and updates touch one client at a time.
    @exclusivity(unchecked) private var cachedClient = Int.min
    @exclusivity(unchecked) private var cachedList: ClientStructs?
    /// Structs that could not be integrated yet (spec 5.5).
    @exclusivity(unchecked) var pending: PendingStructs?
    /// Delete ranges whose structs are not here yet.
    @exclusivity(unchecked) var pendingDeleteSet: DeleteSet?

    /// The structs of `client`, if it has any.
    @inline(__always) func list(_ client: Int) -> ClientStructs? {
        if client == cachedClient, let l = cachedList { return l }
        guard let l = clients[client] else { return nil }
        cachedClient = client
        cachedList = l
        return l
    }

    /// The structs of `client`, created empty when it has none.
    @inline(__always) private func listCreating(_ client: Int) -> ClientStructs {
        if let l = list(client) { return l }
        let l = ClientStructs()
        clients[client] = l
        cachedClient = client
        cachedList = l
        return l
    }

    /// The next clock expected from `client`.
    @inline(__always) func state(_ client: Int) -> Int {
        list(client)?.endClock ?? 0
    }

    /// The state vector: client → state.
    func stateVector() -> [Int: Int] {
        var sv: [Int: Int] = [:]
        sv.reserveCapacity(clients.count)
        for (client, list) in clients {
            if let last = list.last { sv[client] = last.id.clock + last.length }
        }
        return sv
    }

    /// The struct containing `id`, or nil when the clock is not known.
    func find(_ id: ID) -> Item? {
        guard let l = list(id.client), let last = l.last,
              id.clock < last.id.clock + last.length, id.clock >= 0
        else { return nil }
        return l[l.findIndex(id.clock)]
    }

    /// Appends a struct that continues its client's clock range.
    func add(_ item: Item) {
        let l = listCreating(item.id.client)
        l.append(item)
        l.endClock = item.id.clock + item.length
    }

    /// Replaces the struct at the position of `old` by `new` (same id and length).
    func replace(_ old: Item, with new: Item) {
        guard let l = list(old.id.client) else { return }
        l[l.findIndex(old.id.clock)] = new
    }

    /// The item containing `id`, split so that it starts at `id`.
    func itemCleanStart(_ txn: Transaction, _ id: ID) -> Item? {
        guard let l = list(id.client), !l.isEmpty else { return nil }
        let index = l.findIndex(id.clock)
        let item = l[index]
        guard item.id.clock <= id.clock, id.clock < item.id.clock + item.length else { return nil }
        if item.id.clock < id.clock && !item.isGC {
            let right = split(txn, item, id.clock - item.id.clock)
            l.insert(right, at: index + 1)
            return right
        }
        return item
    }

    /// The item containing `id`, split so that it ends at `id`.
    func itemCleanEnd(_ txn: Transaction, _ id: ID) -> Item? {
        guard let l = list(id.client), !l.isEmpty else { return nil }
        let index = l.findIndex(id.clock)
        let item = l[index]
        guard item.id.clock <= id.clock, id.clock < item.id.clock + item.length else { return nil }
        if id.clock != item.id.clock + item.length - 1 && !item.isGC {
            let right = split(txn, item, id.clock - item.id.clock + 1)
            l.insert(right, at: index + 1)
        }
        return item
    }

    @inline(__always) func insert(_ item: Item, at index: Int) {
        listCreating(item.id.client).insert(item, at: index)
    }

    /// Splits `left` at `diff` units, links the new right part after it and
    /// returns it (spec 6.4). The caller inserts it into the store.
    func split(_ txn: Transaction, _ left: Item, _ diff: Int) -> Item {
        let client = left.id.client
        let clock = left.id.clock
        let tail = left.content.splice(diff)
        let right = Item(
            id: ID(client: client, clock: clock + diff), left: left, origin: ID(client: client, clock: clock + diff - 1),
            right: left.right, rightOrigin: left.rightOrigin, parent: left.parent, parentSub: left.parentSub, content: tail)
        if left.deleted { right.deleted = true }
        if left.keep { right.keep = true }
        left.right = right
        if let r = right.right { r.left = right }
        txn.mergeStructs.append(right)
        if let key = right.parentSub, right.right == nil, let parent = right.parent {
            parent.map[key] = right
        }
        left.length = diff
        let doc = txn.doc
        if !doc.redone.isEmpty, let r = doc.redone[left.id] { doc.redone[right.id] = ID(client: r.client, clock: r.clock + diff) }
        if right.parentSub == nil, let parent = right.parent { parent.index.didSplit(left, right) }
        return right
    }
}

extension Array {
    /// The element at `index`, or nil when out of bounds.
    subscript(safe index: Int) -> Element? { index >= 0 && index < count ? self[index] : nil }
}
