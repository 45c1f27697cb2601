// Receiving updates: dependency-ordered integration, pending structs and
// deletes (spec 5.5), and the YATA conflict resolution (spec 6).

extension Doc {
    /// Applies a v1 update. The whole update is decoded and validated before
    /// anything changes: malformed input throws and leaves the document as it
    /// was. Structs whose dependencies are missing are kept pending and
    /// integrated when those arrive.
    public func applyUpdate(_ update: [UInt8], origin: (any Sendable)? = nil) throws(CRDTError) {
        let decoded = try DecodedUpdate.decode(update)
        transact(origin: origin, local: false) { txn in
            txn.local = false
            self.apply(decoded, txn)
        }
    }

    private func apply(_ update: DecodedUpdate, _ txn: Transaction) {
        let rest = integrateStructs(txn, update.clients)
        var retry = false
        if var pending = pendingState {
            for (client, clock) in pending.missing where clock < store.state(client) {
                retry = true
                break
            }
            if let rest {
                for (client, clock) in rest.missing where (pending.missing[client].map { $0 > clock } ?? true) {
                    pending.missing[client] = clock
                }
                pending.update = Updates.merge(decoded: [pending.update, rest.update])
            }
            pendingState = pending
        } else {
            pendingState = rest
        }
        let dsRest = applyDeleteSet(txn, update.deleteSet)
        if let pendingDS = pendingDeleteSet {
            let dsRest2 = applyDeleteSet(txn, pendingDS)
            switch (dsRest, dsRest2) {
            case (let a?, let b?): pendingDeleteSet = DeleteSet.merged([a, b])
            default: pendingDeleteSet = dsRest ?? dsRest2
            }
        } else {
            pendingDeleteSet = dsRest
        }
        if retry, let pending = pendingState {
            pendingState = nil
            apply(pending.update, txn)
        }
    }

    var pendingState: PendingStructs? {
        get { store.pending }
        set { store.pending = newValue }
    }

    var pendingDeleteSet: DeleteSet? {
        get { store.pendingDeleteSet }
        set { store.pendingDeleteSet = newValue }
    }

    /// Integrates structs in an order that respects their dependencies and
    /// returns those that cannot be integrated yet (Yjs `integrateStructs`).
    private func integrateStructs(_ txn: Transaction, _ clientsIn: [(client: Int, structs: [WireStruct])]) -> PendingStructs? {
        if clientsIn.isEmpty { return nil }
        var clients = clientsIn
        // Fast path for the common update from one client whose dependencies
        // are all present: integrate in clock order. The general algorithm
        // below would do exactly the same; it takes over at the first struct
        // that has to wait.
        if clients.count == 1 {
            let (client, structs) = clients[0]
            var i = 0
            while i < structs.count {
                let s = structs[i]
                if s.kind == .skip { break }
                let offset = store.state(client) - s.id.clock
                if offset < 0 || missingDependency(s) != nil { break }
                if offset < s.length, offset > 0 || !extendRemoteString(s, txn) { integrate(s, offset: offset, txn) }
                i += 1
            }
            if i == structs.count { return nil }
            clients = [(client, Array(structs[i...]))]
        }
        var refs: [Int: (structs: [WireStruct], i: Int)] = [:]
        for (client, structs) in clients { refs[client] = (structs, 0) }
        var order = clients.map(\.client).sorted()
        var stack: [WireStruct] = []
        var rest: [Int: [WireStruct]] = [:]
        var missingSV: [Int: Int] = [:]
        var stateCache: [Int: Int] = [:]

        func updateMissing(_ client: Int, _ clock: Int) {
            if let m = missingSV[client], m <= clock { return }
            missingSV[client] = clock
        }
        func nextTarget() -> Int? {
            while let c = order.last {
                if let r = refs[c], r.i < r.structs.count { return c }
                order.removeLast()
            }
            return nil
        }
        func take(_ client: Int) -> WireStruct {
            let r = refs[client]!
            refs[client]!.i += 1
            return r.structs[r.i]
        }
        func addStackToRest() {
            for s in stack {
                let client = s.id.client
                if let r = refs[client] {
                    let from = max(r.i - 1, 0)
                    rest[client] = Array(r.structs[from...])
                    refs[client] = nil
                } else {
                    rest[client] = [s]
                }
                order.removeAll { $0 == client }
            }
            stack.removeAll()
        }

        guard var current = nextTarget() else { return nil }
        var head = take(current)
        while true {
            if head.kind != .skip {
                let client = head.id.client
                let localClock: Int
                if let cached = stateCache[client] { localClock = cached } else {
                    localClock = store.state(client)
                    stateCache[client] = localClock
                }
                let offset = localClock - head.id.clock
                if offset < 0 {
                    stack.append(head)
                    updateMissing(client, head.id.clock - 1)
                    addStackToRest()
                } else if let missing = missingDependency(head) {
                    stack.append(head)
                    if let r = refs[missing], r.i < r.structs.count {
                        head = take(missing)
                        continue
                    }
                    updateMissing(missing, store.state(missing))
                    addStackToRest()
                } else if offset == 0 || offset < head.length {
                    integrate(head, offset: offset, txn)
                    stateCache[client] = head.id.clock + head.length
                }
            }
            if let s = stack.popLast() {
                head = s
            } else if let r = refs[current], r.i < r.structs.count {
                head = take(current)
            } else if let next = nextTarget() {
                current = next
                head = take(current)
            } else {
                break
            }
        }
        guard !rest.isEmpty else { return nil }
        let update = DecodedUpdate(clients: rest.map { ($0.key, $0.value) }, deleteSet: DeleteSet())
        return PendingStructs(update: update, missing: missingSV)
    }

    /// The client of the first dependency of `s` this document lacks.
    private func missingDependency(_ s: WireStruct) -> Int? {
        guard s.kind == .item else { return nil }
        if let o = s.origin, o.client != s.id.client, o.clock >= store.state(o.client) { return o.client }
        if let r = s.rightOrigin, r.client != s.id.client, r.clock >= store.state(r.client) { return r.client }
        if case .id(let p)? = s.parent, p.client != s.id.client, p.clock >= store.state(p.client) { return p.client }
        return nil
    }

    /// Integrates one struct whose dependencies are present (spec 6.1).
    private func integrate(_ s: WireStruct, offset: Int, _ txn: Transaction) {
        txn.willAdd(client: s.id.client)
        if s.kind == .gc {
            store.add(Item(gc: ID(client: s.id.client, clock: s.id.clock + offset), length: s.length - offset))
            return
        }
        var origin = s.origin
        var rightOrigin = s.rightOrigin
        var left: Item?
        var right: Item?
        var consistent = true
        if let o = origin {
            left = store.itemCleanEnd(txn, o)
            if let l = left { origin = l.lastID } else { consistent = false }
        }
        if let r = rightOrigin {
            right = store.itemCleanStart(txn, r)
            if let rr = right { rightOrigin = rr.id } else { consistent = false }
        }
        var parent: Branch?
        var parentSub = s.parentSub
        if !consistent || left?.isGC == true || right?.isGC == true {
            parent = nil
        } else {
            switch s.parent {
            case nil:
                if let l = left {
                    parent = l.parent
                    parentSub = l.parentSub
                }
                if let r = right {
                    // Neighbours in different lists can only come from a forged update.
                    if left != nil && (r.parent !== parent || r.parentSub != parentSub) {
                        parent = nil
                    } else {
                        parent = r.parent
                        parentSub = r.parentSub
                    }
                }
            case .id(let pid)?:
                if let pItem = store.find(pid), case .type(let b) = pItem.content { parent = b }
            case .root(let name)?:
                parent = root(name)
            }
        }
        var clock = s.id.clock
        var length = s.length
        var content = s.content
        if offset > 0 {
            clock += offset
            length -= offset
            left = store.itemCleanEnd(txn, ID(client: s.id.client, clock: clock - 1))
            origin = left?.lastID
            content = content.splice(offset)
        }
        if case .type = content, let p = parent, p.depth >= Branch.maxDepth { parent = nil }
        guard let parent else {
            store.add(Item(gc: ID(client: s.id.client, clock: clock), length: length))
            return
        }
        let item = Item(
            id: ID(client: s.id.client, clock: clock), left: left, origin: origin, right: right,
            rightOrigin: rightOrigin, parent: parent, parentSub: parentSub, content: content)
        integrate(item, txn)
    }

    /// Places `item` in its parent's list (YATA, spec 6.2/6.3), stores it and
    /// integrates its content. `item.left`/`item.right` hold the resolved
    /// origins; `item.parent` is set.
    func integrate(_ item: Item, _ txn: Transaction) {
        guard let parent = item.parent else { return }
        let needsScan: Bool
        if let l = item.left {
            needsScan = l.right !== item.right
        } else {
            needsScan = item.right == nil || item.right?.left != nil
        }
        if needsScan {
            var left = item.left
            var o: Item?
            if let l = left {
                o = l.right
            } else if let key = item.parentSub {
                o = parent.map[key]
                while let x = o, let xl = x.left { o = xl }
            } else {
                o = parent.start
            }
            var conflicting = Set<ObjectIdentifier>()
            var beforeOrigin = Set<ObjectIdentifier>()
            while let x = o, x !== item.right {
                beforeOrigin.insert(ObjectIdentifier(x))
                conflicting.insert(ObjectIdentifier(x))
                if item.origin == x.origin {
                    if x.id.client < item.id.client {
                        left = x
                        conflicting.removeAll()
                    } else if item.rightOrigin == x.rightOrigin {
                        break
                    }
                } else if let xo = x.origin, let originItem = store.find(xo), beforeOrigin.contains(ObjectIdentifier(originItem)) {
                    if !conflicting.contains(ObjectIdentifier(originItem)) {
                        left = x
                        conflicting.removeAll()
                    }
                } else {
                    break
                }
                o = x.right
            }
            item.left = left
        }
        if let l = item.left {
            item.right = l.right
            l.right = item
        } else {
            var r: Item?
            if let key = item.parentSub {
                r = parent.map[key]
                while let x = r, let xl = x.left { r = xl }
            } else {
                r = parent.start
                parent.start = item
            }
            item.right = r
        }
        if let r = item.right {
            r.left = item
        } else if let key = item.parentSub {
            if parent.map.updateValue(item, forKey: key) == nil { parent.mapOrder.append(key) }
            if let l = item.left {
                if !txn.local && !l.deleted && item.origin != l.lastID {
                    txn.conflicts.append(conflict(key: key, winner: item, loser: l))
                }
                deleteItem(l, txn)
            }
        }
        if item.parentSub == nil {
            if item.isCountable && !item.deleted { parent.length += item.length }
            parent.index.inserted(item)
        }
        txn.willAdd(client: item.id.client)
        store.add(item)
        integrateContent(item, txn)
        txn.addChanged(parent, item.parentSub)
        if (parent.item?.deleted ?? false) {
            deleteItem(item, txn)
        } else if let key = item.parentSub, item.right != nil {
            if !txn.local, let current = parent.map[key], !current.deleted, !item.deleted {
                txn.conflicts.append(conflict(key: key, winner: current, loser: item))
            }
            deleteItem(item, txn)
        }
    }

    /// Typing: appends `units` to `left`, this client's newest struct, when a
    /// new item inserted right after it would be merged into it at the end of
    /// the transaction anyway (same client, next clock, origin its last unit,
    /// same right origin, both visible strings). Growing it in place gives the
    /// same structs, updates and text without allocating, linking, indexing
    /// and then merging a one-character item per keystroke. Returns false,
    /// changing nothing, when those conditions do not hold.
    func extendLocalString(_ left: Item, with units: some Collection<UInt16>, _ txn: Transaction) -> Bool {
        guard left.id.client == clientID, left.rightOrigin == left.right?.id else { return false }
        return grow(left, with: units, txn)
    }

    /// Remote typing, the same way: a string struct whose origin is the last
    /// unit of its client's newest item, and whose right origin is both that
    /// item's right origin and its current right neighbour (so integration
    /// would place it right there, with nothing concurrent to order).
    func extendRemoteString(_ s: WireStruct, _ txn: Transaction) -> Bool {
        guard s.kind == .item, s.parentSub == nil, case .string(let units) = s.content, let o = s.origin,
              o.client == s.id.client, o.clock == s.id.clock - 1,
              let left = store.list(s.id.client)?.last, left.id.clock + left.length == s.id.clock,
              left.rightOrigin == s.rightOrigin, left.right?.id == s.rightOrigin
        else { return false }
        return grow(left, with: units, txn)
    }

    private func grow(_ left: Item, with units: some Collection<UInt16>, _ txn: Transaction) -> Bool {
        let client = left.id.client
        guard !units.isEmpty, left.contentRef == 4, !left.deleted, left.parentSub == nil,
              let parent = left.parent, !(parent.item?.deleted ?? false),
              let list = store.list(client), list.endClock == left.id.clock + left.length
        else { return false }
        // Events describe what a transaction added by the ids it created: an item
        // from an earlier transaction that grows would read as unchanged text.
        if hasTypeObservers, left.id.clock < txn.beforeState(client), !parent.observers.isEmpty || parent.hasDeepObserverAbove { return false }
        // An item that was redone never merges in Yjs, so it does not grow either.
        if !redone.isEmpty, redone[left.id] != nil { return false }
        txn.willAdd(client: client)
        let count = units.count
        guard left.content.appendUnits(units) else { return false }
        left.length += count
        list.endClock += count
        parent.length += count
        parent.index.visibleChanged(left, by: count)
        if !parent.hasSurrogates, containsSurrogate(units) { parent.hasSurrogates = true }
        txn.addChanged(parent, nil)
        return true
    }

    private func conflict(key: String, winner: Item, loser: Item) -> MapConflict {
        func value(_ i: Item) -> YAny { i.content.values().last ?? .null }
        return MapConflict(
            key: key, path: winner.parent?.path ?? [], winner: value(winner), loser: value(loser),
            winnerClient: winner.id.client, loserClient: loser.id.client)
    }

    private func integrateContent(_ item: Item, _ txn: Transaction) {
        switch item.content {
        case .deleted(let n):
            txn.deleteSet.add(client: item.id.client, clock: item.id.clock, length: n)
            item.deleted = true
        case .type(let b):
            b.doc = self
            // A type observed before it was inserted.
            if !b.observers.isEmpty || !b.deepObservers.isEmpty { hasTypeObservers = true }
            b.item = item
            b.depth = (item.parent?.depth ?? 0) + 1
            b.integratePrelim(txn)
        case .string(let units):
            if let parent = item.parent, !parent.hasSurrogates, containsSurrogate(units) {
                parent.hasSurrogates = true
            }
        case .format:
            item.parent?.hasFormatting = true
        default:
            break
        }
    }

    /// Deletes the units of string `item` from `offset` to its end when its
    /// right neighbour is the deleted run that continues it (backspacing
    /// through typed text): the units join that run, which then starts at
    /// `offset`. Yjs splits them off and the transaction's cleanup merges
    /// them into the run; the structs come out the same, without a struct
    /// allocated and freed and two moves in the client's list per backspace.
    /// Only where nothing looks at the split-off part before that merge: no
    /// type observers or after-transaction handlers (an undo manager keeps
    /// deleted items), garbage collection on, nothing redone.
    func deleteTailJoiningDeletedRight(_ item: Item, from offset: Int, _ txn: Transaction) -> Bool {
        guard gc, !hasTypeObservers, afterTransactionHandlers.isEmpty, redone.isEmpty,
              offset > 0, offset < item.length, item.contentRef == 4, !item.deleted, !item.keep, item.parentSub == nil,
              let right = item.right, right.deleted, right.contentRef == 1, !right.keep,
              right.id.client == item.id.client, right.id.clock == item.id.clock + item.length,
              right.origin == item.lastID, right.rightOrigin == item.rightOrigin,
              let parent = item.parent, item.content.truncateString(offset)
        else { return false }
        let n = item.length - offset
        item.length = offset
        parent.length -= n
        parent.index.visibleChanged(item, by: -n)
        right.id = ID(client: item.id.client, clock: item.id.clock + offset)
        right.origin = item.lastID
        right.length += n
        right.replaceContent(.deleted(right.length))
        txn.deleteSet.add(client: right.id.client, clock: right.id.clock, length: n)
        txn.addChanged(parent, nil)
        return true
    }

    /// Marks an item deleted (spec 6.6), recursively for nested types.
    func deleteItem(_ item: Item, _ txn: Transaction) {
        guard !item.deleted, let parent = item.parent else { return }
        if item.isCountable && item.parentSub == nil {
            parent.length -= item.length
            parent.index.visibleChanged(item, by: -item.length)
        }
        item.deleted = true
        txn.deleteSet.add(client: item.id.client, clock: item.id.clock, length: item.length)
        txn.addChanged(parent, item.parentSub)
        if case .type(let b) = item.content {
            var child = b.start
            while let c = child {
                if !c.deleted {
                    deleteItem(c, txn)
                } else if c.id.clock < txn.beforeState(c.id.client) {
                    txn.mergeStructs.append(c)
                }
                child = c.right
            }
            for key in b.mapOrder {
                guard let entry = b.map[key] else { continue }
                if !entry.deleted {
                    deleteItem(entry, txn)
                } else if entry.id.clock < txn.beforeState(entry.id.client) {
                    txn.mergeStructs.append(entry)
                }
            }
            txn.removeChanged(b)
        }
    }

    /// Applies a delete set; returns the ranges whose structs are missing.
    private func applyDeleteSet(_ txn: Transaction, _ ds: DeleteSet) -> DeleteSet? {
        var unapplied = DeleteSet()
        for client in ds.clientOrder {
            guard let ranges = ds.clients[client] else { continue }
            let state = store.state(client)
            for r in ranges {
                let clock = r.clock
                let end = r.clock + r.length
                guard clock < state else {
                    unapplied.add(client: client, clock: clock, length: r.length)
                    continue
                }
                if state < end { unapplied.add(client: client, clock: state, length: end - state) }
                guard let list = store.list(client) else { continue }
                var index = list.findIndex(clock)
                guard let first = list[safe: index] else { continue }
                if !first.deleted && first.id.clock < clock {
                    store.insert(store.split(txn, first, clock - first.id.clock), at: index + 1)
                    index += 1
                }
                while let s = list[safe: index] {
                    index += 1
                    guard s.id.clock < end else { break }
                    if !s.deleted {
                        if end < s.id.clock + s.length {
                            store.insert(store.split(txn, s, end - s.id.clock), at: index)
                        }
                        deleteItem(s, txn)
                    }
                }
            }
        }
        return unapplied.isEmpty ? nil : unapplied
    }
}
