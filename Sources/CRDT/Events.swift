/// What changed in one shared type during a transaction.
public struct YEvent {
    /// Path of the changed type from its root.
    public let path: [PathSegment]
    /// Map keys that changed (set or deleted).
    public let keysChanged: Set<String>
    /// For sequences: the change as a delta (retain / insert / delete).
    public let delta: [TextDelta]
    /// The transaction, for its origin, `local` flag and conflicts.
    public let transaction: Transaction
}

extension Branch {
    /// Registers an observer of this type's own changes.
    @discardableResult
    func observe(_ handler: @escaping (YEvent) -> Void) -> Int {
        let id = (observers.map(\.id).max() ?? 0) + 1
        observers.append((id, handler))
        doc?.hasTypeObservers = true
        return id
    }

    /// Registers an observer of changes to this type and everything nested in it.
    @discardableResult
    func observeDeep(_ handler: @escaping ([YEvent]) -> Void) -> Int {
        let id = (deepObservers.map(\.id).max() ?? 0) + 1
        deepObservers.append((id, handler))
        doc?.hasTypeObservers = true
        return id
    }

    func callObservers(_ txn: Transaction, keys: ChangedKeys) {
        if (kind == .text || kind == .xmlText) && !txn.local && hasFormatting {
            txn.needFormattingCleanup = true
        }
        guard !observers.isEmpty || hasDeepObserverAbove else { return }
        let event = makeEvent(txn, keys: keys)
        for (_, h) in observers { h(event) }
        var b: Branch? = self
        while let branch = b {
            if !branch.deepObservers.isEmpty { txn.deepEvents.append((ObjectIdentifier(branch), branch, event)) }
            b = branch.item?.parent
        }
    }

    var hasDeepObserverAbove: Bool {
        var b: Branch? = self
        while let branch = b {
            if !branch.deepObservers.isEmpty { return true }
            b = branch.item?.parent
        }
        return false
    }

    /// Builds the event: changed keys and, for sequences, a delta computed
    /// from what the transaction added and deleted.
    func makeEvent(_ txn: Transaction, keys: ChangedKeys) -> YEvent {
        var delta: [TextDelta] = []
        if keys.sequence {
            var retain = 0
            var deleted = 0
            func flushRetainDelete() {
                if deleted > 0 { delta.append(TextDelta(.delete(deleted))); deleted = 0 }
                if retain > 0 { delta.append(TextDelta(.retain(retain))); retain = 0 }
            }
            var n = start
            while let item = n {
                let added = txn.adds(item)
                let removed = txn.deletes(item)
                if item.isCountable || removed {
                    if added && !item.deleted {
                        if retain > 0 { delta.append(TextDelta(.retain(retain))); retain = 0 }
                        if deleted > 0 { delta.append(TextDelta(.delete(deleted))); deleted = 0 }
                        for v in item.content.values() {
                            if case .string(let s) = v { delta.append(TextDelta(.insert(s))) } else { delta.append(TextDelta(.insertEmbed(v))) }
                        }
                    } else if removed && !added {
                        if retain > 0 { delta.append(TextDelta(.retain(retain))); retain = 0 }
                        if case .format = item.content {} else { deleted += item.length }
                    } else if !item.deleted && item.isCountable {
                        if deleted > 0 { delta.append(TextDelta(.delete(deleted))); deleted = 0 }
                        retain += item.length
                    }
                }
                n = item.right
            }
            if deleted > 0 { delta.append(TextDelta(.delete(deleted))) }
            // Merge adjacent string inserts.
            var merged: [TextDelta] = []
            for d in delta {
                if case .insert(let b) = d.op, let last = merged.last, case .insert(let a) = last.op {
                    merged[merged.count - 1] = TextDelta(.insert(a + b))
                } else {
                    merged.append(d)
                }
            }
            delta = merged
        }
        return YEvent(path: path, keysChanged: keys.keys, delta: delta, transaction: txn)
    }
}

extension Doc {
    /// Deep observers get all events under them at once, top-level first.
    func deliverDeepEvents(_ txn: Transaction) {
        guard !txn.deepEvents.isEmpty else { return }
        var grouped: [ObjectIdentifier: (Branch, [YEvent])] = [:]
        var order: [ObjectIdentifier] = []
        for (oid, branch, event) in txn.deepEvents {
            if grouped[oid] == nil { grouped[oid] = (branch, []); order.append(oid) }
            grouped[oid]!.1.append(event)
        }
        for oid in order {
            guard let (branch, events) = grouped[oid] else { continue }
            let sorted = events.sorted { $0.path.count < $1.path.count }
            for (_, h) in branch.deepObservers { h(sorted) }
        }
    }
}

extension YText {
    /// Observes changes of this text. Returns a token.
    @discardableResult public func observe(_ handler: @escaping (YEvent) -> Void) -> Int { branch.observe(handler) }
}

extension YMap {
    /// Observes changes of this map's keys. Returns a token.
    @discardableResult public func observe(_ handler: @escaping (YEvent) -> Void) -> Int { branch.observe(handler) }
    /// Observes this map and everything nested in it.
    @discardableResult public func observeDeep(_ handler: @escaping ([YEvent]) -> Void) -> Int { branch.observeDeep(handler) }
}

extension YArray {
    /// Observes changes of this array. Returns a token.
    @discardableResult public func observe(_ handler: @escaping (YEvent) -> Void) -> Int { branch.observe(handler) }
    /// Observes this array and everything nested in it.
    @discardableResult public func observeDeep(_ handler: @escaping ([YEvent]) -> Void) -> Int { branch.observeDeep(handler) }
}
