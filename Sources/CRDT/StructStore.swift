/// Pending structs as one decoded update plus, per client, the lowest clock
/// whose arrival may make them integrable.
struct PendingStructs {
    var update: DecodedUpdate
    var missing: [Int: Int]
}

/// The structs of one client, sorted by clock. A class, so that the store
/// hands out the list and callers grow, split and merge `items` in place
/// (an array inside a dictionary value is copied by any mutation that
/// does not go through the dictionary, and re-hashed by every one that does).
final class ClientStructs {
    var items: [Item] = []
    /// The clock after the last struct (the client's state). Kept here
    /// because it is asked for on every edit and integration, and reading it
    /// through `items.last` retains the array and the item each time. Only
    /// appending moves it: splits and merges keep the covered range.
    var endClock = 0
}

/// All integrated structs of a document, per client, sorted by clock and
/// contiguous from clock 0 (spec 2.2).
final class StructStore {
    private(set) var clients: [Int: ClientStructs] = [:]
    /// The last list looked up: edits and updates touch one client at a time.
    private var cachedClient = Int.min
    private var cachedList: ClientStructs?
    /// Structs that could not be integrated yet (spec 5.5).
    var pending: PendingStructs?
    /// Delete ranges whose structs are not here yet.
    var pendingDeleteSet: DeleteSet?

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
            if let last = list.items.last { sv[client] = last.id.clock + last.length }
        }
        return sv
    }

    /// Index of the struct containing `clock`; the caller guarantees it exists.
    @inline(__always) static func findIndex(_ structs: [Item], _ clock: Int) -> Int {
        var lo = 0
        var hi = structs.count - 1
        if let last = structs.last, last.id.clock <= clock { return hi }
        // Interpolation guess first: clocks are dense, so this usually hits at once.
        if let lastItem = structs.last {
            let lastClock = lastItem.id.clock + lastItem.length - 1
            if lastClock > 0 {
                let guess = min(hi, Int((Double(clock) / Double(lastClock)) * Double(hi)))
                let g = structs[guess]
                if g.id.clock <= clock {
                    if clock < g.id.clock + g.length { return guess }
                    lo = guess + 1
                } else {
                    hi = guess - 1
                }
            }
        }
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let s = structs[mid]
            if s.id.clock <= clock {
                if clock < s.id.clock + s.length { return mid }
                lo = mid + 1
            } else {
                hi = mid - 1
            }
        }
        return max(0, min(lo, structs.count - 1))
    }

    /// The struct containing `id`, or nil when the clock is not known.
    func find(_ id: ID) -> Item? {
        guard let structs = list(id.client)?.items, let last = structs.last,
              id.clock < last.id.clock + last.length, id.clock >= 0
        else { return nil }
        return structs[Self.findIndex(structs, id.clock)]
    }

    /// Appends a struct that continues its client's clock range.
    func add(_ item: Item) {
        let l = listCreating(item.id.client)
        l.items.append(item)
        l.endClock = item.id.clock + item.length
    }

    /// Replaces the struct at the position of `old` by `new` (same id and length).
    func replace(_ old: Item, with new: Item) {
        guard let l = list(old.id.client) else { return }
        let index = Self.findIndex(l.items, old.id.clock)
        l.items[index] = new
    }

    /// The item containing `id`, split so that it starts at `id`.
    func itemCleanStart(_ txn: Transaction, _ id: ID) -> Item? {
        // No local copy of the array: it would make the insertion below copy it.
        guard let l = list(id.client), !l.items.isEmpty else { return nil }
        let index = Self.findIndex(l.items, id.clock)
        let item = l.items[index]
        guard item.id.clock <= id.clock, id.clock < item.id.clock + item.length else { return nil }
        if item.id.clock < id.clock && !item.isGC {
            let right = split(txn, item, id.clock - item.id.clock)
            insert(right, at: index + 1)
            return right
        }
        return item
    }

    /// The item containing `id`, split so that it ends at `id`.
    func itemCleanEnd(_ txn: Transaction, _ id: ID) -> Item? {
        guard let l = list(id.client), !l.items.isEmpty else { return nil }
        let index = Self.findIndex(l.items, id.clock)
        let item = l.items[index]
        guard item.id.clock <= id.clock, id.clock < item.id.clock + item.length else { return nil }
        if id.clock != item.id.clock + item.length - 1 && !item.isGC {
            let right = split(txn, item, id.clock - item.id.clock + 1)
            insert(right, at: index + 1)
        }
        return item
    }

    @inline(__always) func insert(_ item: Item, at index: Int) {
        listCreating(item.id.client).items.insert(item, at: index)
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
        if right.parentSub == nil, let parent = right.parent { parent.index.didSplit(left, right) }
        return right
    }
}

extension Array {
    /// The element at `index`, or nil when out of bounds.
    subscript(safe index: Int) -> Element? { index >= 0 && index < count ? self[index] : nil }
}
