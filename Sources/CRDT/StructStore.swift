/// Pending structs as one decoded update plus, per client, the lowest clock
/// whose arrival may make them integrable.
struct PendingStructs {
    var update: DecodedUpdate
    var missing: [Int: Int]
}

/// All integrated structs of a document, per client, sorted by clock and
/// contiguous from clock 0 (spec 2.2).
final class StructStore {
    var clients: [Int: [Item]] = [:]
    /// Structs that could not be integrated yet (spec 5.5).
    var pending: PendingStructs?
    /// Delete ranges whose structs are not here yet.
    var pendingDeleteSet: DeleteSet?

    /// The next clock expected from `client`.
    @inline(__always) func state(_ client: Int) -> Int {
        guard let structs = clients[client], let last = structs.last else { return 0 }
        return last.id.clock + last.length
    }

    /// The state vector: client → state.
    func stateVector() -> [Int: Int] {
        var sv: [Int: Int] = [:]
        sv.reserveCapacity(clients.count)
        for (client, structs) in clients {
            if let last = structs.last { sv[client] = last.id.clock + last.length }
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
        guard let structs = clients[id.client], let last = structs.last,
              id.clock < last.id.clock + last.length, id.clock >= 0
        else { return nil }
        return structs[Self.findIndex(structs, id.clock)]
    }

    /// Appends a struct that continues its client's clock range.
    func add(_ item: Item) {
        clients[item.id.client, default: []].append(item)
    }

    /// Replaces the struct at the position of `old` by `new` (same id and length).
    func replace(_ old: Item, with new: Item) {
        guard var structs = clients[old.id.client] else { return }
        let index = Self.findIndex(structs, old.id.clock)
        clients[old.id.client] = nil
        structs[index] = new
        clients[old.id.client] = structs
    }

    /// The item containing `id`, split so that it starts at `id`.
    func itemCleanStart(_ txn: Transaction, _ id: ID) -> Item? {
        guard let structs = clients[id.client], !structs.isEmpty else { return nil }
        let index = Self.findIndex(structs, id.clock)
        let item = structs[index]
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
        guard let structs = clients[id.client], !structs.isEmpty else { return nil }
        let index = Self.findIndex(structs, id.clock)
        let item = structs[index]
        guard item.id.clock <= id.clock, id.clock < item.id.clock + item.length else { return nil }
        if id.clock != item.id.clock + item.length - 1 && !item.isGC {
            let right = split(txn, item, id.clock - item.id.clock + 1)
            insert(right, at: index + 1)
        }
        return item
    }

    @inline(__always) func insert(_ item: Item, at index: Int) {
        clients[item.id.client, default: []].insert(item, at: index)
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
