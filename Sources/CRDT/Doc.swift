/// A Yjs-compatible CRDT document: a set of named root types whose content
/// merges with any other replica's in any order (spec 2, 5, 6).
///
/// A `Doc` is not thread-safe; confine it to one actor or queue.
public final class Doc {
    /// This replica's client id. Changed automatically if an applied update
    /// shows another replica using the same id.
    @exclusivity(unchecked) public internal(set) var clientID: Int
    /// Whether deleted content is garbage-collected (Yjs default: true).
    public let gc: Bool
    /// Deletes in text without formatting find each item through the
    /// sequence index; tests set this to take Yjs' walk instead and compare.
    @exclusivity(unchecked) var walksToDelete = false
    /// Item id → the id of the item an undo manager re-created it as (Yjs
    /// `Item.redone`; kept here rather than in every item, since few ever
    /// have one). Split items carry it over; items that have one never merge.
    @exclusivity(unchecked) var redone: [ID: ID] = [:]
    /// Whether any type of this document has ever had an observer: until one
    /// does, transactions skip building events (most of a local edit's
    /// cleanup when no one listens, as on a server or in a replay).
    @exclusivity(unchecked) var hasTypeObservers = false
    let store = StructStore()
    @exclusivity(unchecked) var roots: [String: Branch] = [:]
    @exclusivity(unchecked) var currentTransaction: Transaction?
    @exclusivity(unchecked) private var cleanupQueue: [Transaction] = []
    @exclusivity(unchecked) private var cleaningUp = false
    /// The most recent outermost transaction, reused by the next one when
    /// nothing else (a handler, the caller) still holds it.
    @exclusivity(unchecked) private var lastTransaction: Transaction?
    @exclusivity(unchecked) private var updateHandlers: [(id: Int, handler: ([UInt8], Transaction) -> Void)] = []
    @exclusivity(unchecked) private(set) var afterTransactionHandlers: [(id: Int, handler: (Transaction) -> Void)] = []
    @exclusivity(unchecked) private var nextHandlerID = 0

    /// Creates an empty document. Without a client id a random 32-bit one is
    /// chosen, as Yjs does.
    /// - Parameter clientID: non-negative (Yjs ids are uint32); random when nil.
    public init(clientID: Int? = nil, gc: Bool = true) {
        precondition((clientID ?? 0) >= 0, "a client id is never negative")
        self.clientID = clientID ?? Doc.randomClientID()
        self.gc = gc
    }

    deinit {
        // Items link to each other strongly to the right; break chains
        // iteratively so that releasing a long document cannot overflow the stack.
        for (_, list) in store.clients {
            for item in list.all {
                item.right = nil
                if case .type(let b) = item.content { b.detach() }
            }
        }
        for (_, b) in roots { b.detach() }
    }

    /// Continues as `clientID` after the document was loaded from storage
    /// that holds this replica's own earlier edits (applying them made the
    /// document pick a fresh id, as Yjs does for a foreign update). The
    /// caller guarantees that no other live replica uses the id: edits must
    /// be serialized, each starting from the latest stored state.
    public func resume(clientID: Int) {
        precondition(clientID >= 0, "a client id is never negative")
        self.clientID = clientID
    }

    static func randomClientID() -> Int { Int(UInt32.random(in: 0...UInt32.max)) }

    // MARK: Roots

    /// The root type called `name`, created on first use.
    func root(_ name: String, kind: TypeKind? = nil) -> Branch {
        if let b = roots[name] {
            if let kind, b.kind == .undetermined { b.kind = kind }
            return b
        }
        let b = Branch(kind: kind ?? .undetermined)
        b.doc = self
        b.rootName = name
        roots[name] = b
        return b
    }

    /// The root text called `name`.
    public func getText(_ name: String) -> YText { YText(branch: root(name, kind: .text)) }
    /// The root map called `name`.
    public func getMap(_ name: String) -> YMap { YMap(branch: root(name, kind: .map)) }
    /// The root array called `name`.
    public func getArray(_ name: String) -> YArray { YArray(branch: root(name, kind: .array)) }

    /// Names of the root types known to the document.
    public var rootNames: [String] { roots.keys.sorted() }

    // MARK: Observers

    /// Calls `handler` with the v1 update of every transaction that changed
    /// something (spec 5.6). Returns a token for ``removeHandler(_:)``.
    @discardableResult
    public func onUpdate(_ handler: @escaping ([UInt8], Transaction) -> Void) -> Int {
        nextHandlerID += 1
        updateHandlers.append((nextHandlerID, handler))
        return nextHandlerID
    }

    /// Calls `handler` after every transaction, before its update is emitted.
    @discardableResult
    public func onAfterTransaction(_ handler: @escaping (Transaction) -> Void) -> Int {
        nextHandlerID += 1
        afterTransactionHandlers.append((nextHandlerID, handler))
        return nextHandlerID
    }

    /// Removes a handler registered with ``onUpdate(_:)`` or ``onAfterTransaction(_:)``.
    public func removeHandler(_ id: Int) {
        updateHandlers.removeAll { $0.id == id }
        afterTransactionHandlers.removeAll { $0.id == id }
    }

    // MARK: Transactions

    /// Runs `body` in a transaction. Nested calls join the outer transaction;
    /// observers and update handlers run once the outermost one ends.
    @discardableResult
    public func transact<R>(origin: (any Sendable)? = nil, _ body: (Transaction) throws -> R) rethrows -> R {
        try transact(origin: origin, local: true, body)
    }

    func transact<R>(origin: (any Sendable)?, local: Bool, _ body: (Transaction) throws -> R) rethrows -> R {
        if let txn = currentTransaction { return try body(txn) }
        let txn: Transaction
        if lastTransaction != nil, isKnownUniquelyReferenced(&lastTransaction), let finished = lastTransaction {
            finished.reuse(origin: origin, local: local)
            txn = finished
        } else {
            txn = Transaction(doc: self, origin: origin, local: local)
            lastTransaction = txn
        }
        currentTransaction = txn
        // A transaction started while others are being cleaned up (by an
        // observer) waits for them; the outermost one runs all cleanups.
        let isFirst = !cleaningUp
        if !isFirst { cleanupQueue.append(txn) }
        defer {
            if currentTransaction === txn { currentTransaction = nil }
            if isFirst { runCleanups(txn) }
        }
        return try body(txn)
    }

    /// Cleans up `first`, then the transactions its observers started, in order.
    private func runCleanups(_ first: Transaction) {
        cleaningUp = true
        defer { cleaningUp = false }
        currentTransaction = nil
        observe(first)
        finish(first)
        guard !cleanupQueue.isEmpty else { return }
        var i = 0
        while i < cleanupQueue.count {
            let txn = cleanupQueue[i]
            currentTransaction = nil
            observe(txn)
            finish(txn)
            i += 1
        }
        cleanupQueue.removeAll(keepingCapacity: true)
    }

    /// Observer phase: events, then (Yjs 13.6) formatting cleanup after remote
    /// changes in a follow-up transaction.
    private func observe(_ txn: Transaction) {
        txn.deleteSet.sortAndMerge()
        // Remote changes still pass through: they decide the formatting cleanup below.
        if hasTypeObservers || !txn.local {
            for (branch, keys) in zip(txn.changedBranches, txn.changedKeys) {
                if let item = branch.item, item.deleted { continue }
                branch.callObservers(txn, keys: keys)
            }
            deliverDeepEvents(txn)
        }
        for (_, handler) in afterTransactionHandlers { handler(txn) }
        if txn.needFormattingCleanup {
            transact(origin: nil, local: true) { cleanupTxn in
                YText.cleanupAfterRemoteTransaction(txn, cleanupTxn)
            }
        }
    }

    /// Cleanup phase: GC, squashing, and the update event.
    private func finish(_ txn: Transaction) {
        if !txn.deleteSet.clients.isEmpty {
            let ds = txn.deleteSet
            if gc { tryGC(ds) }
            tryMerge(ds)
        }
        for client in txn.touchedOrder {
            let before = txn.beforeState(client)
            guard before != store.state(client), let list = store.list(client) else { continue }
            let firstChange = max(list.findIndex(before), 1)
            var i = list.count - 1
            while i >= firstChange {
                i -= 1 + mergeWithLefts(list, i)
            }
        }
        var m = txn.mergeStructs.count - 1
        while m >= 0 {
            let id = txn.mergeStructs[m].id
            m -= 1
            guard let list = store.list(id.client) else { continue }
            let pos = list.findIndex(id.clock)
            var done = false
            if pos + 1 < list.count, mergeWithLefts(list, pos + 1) > 1 { done = true }
            if !done && pos > 0 { _ = mergeWithLefts(list, pos) }
        }
        if !txn.local, txn.beforeState(clientID) != store.state(clientID) {
            clientID = Doc.randomClientID()
        }
        if !updateHandlers.isEmpty, let update = encodeTransactionUpdate(txn) {
            for (_, handler) in updateHandlers { handler(update, txn) }
        }
    }

    /// The v1 update of a finished transaction, or nil if it changed nothing.
    private func encodeTransactionUpdate(_ txn: Transaction) -> [UInt8]? {
        if txn.deleteSet.isEmpty && !txn.addedStructs { return nil }
        var enc = Lib0Encoder(capacity: 64)
        let targets = txn.touchedOrder.map { (client: $0, clock: txn.beforeState($0)) }.filter { store.state($0.client) > $0.clock }
        writeStructs(&enc, targets: targets)
        txn.deleteSet.write(&enc)
        return enc.finish()
    }

    // MARK: Garbage collection and squashing

    private func tryGC(_ ds: DeleteSet) {
        for client in ds.clientOrder {
            guard let ranges = ds.clients[client] else { continue }
            for r in ranges.reversed() {
                let end = r.clock + r.length
                guard let list = store.list(client) else { break }
                var si = list.findIndex(r.clock)
                // Fresh reads: collecting replaces structs in this same list.
                while let s = list[safe: si], s.id.clock < end {
                    if !s.isGC && s.deleted && !s.keep { gcItem(s, parentGCd: false) }
                    si += 1
                }
            }
        }
    }

    /// Drops the content of a deleted item (spec 6.6).
    func gcItem(_ item: Item, parentGCd: Bool) {
        if case .type(let b) = item.content {
            defer { b.detach() }
            var child = b.start
            while let c = child {
                let next = c.right
                gcItem(c, parentGCd: true)
                child = next
            }
            b.start = nil
            for (_, last) in b.map {
                var c: Item? = last
                while let entry = c {
                    let prev = entry.left
                    gcItem(entry, parentGCd: true)
                    c = prev
                }
            }
            b.map = [:]
            b.mapOrder = []
            b.index.removeAll()
        }
        if parentGCd {
            item.right = nil
            store.replace(item, with: Item(gc: item.id, length: item.length))
        } else {
            item.replaceContent(.deleted(item.length))
        }
    }

    private func tryMerge(_ ds: DeleteSet) {
        for client in ds.clientOrder {
            guard let ranges = ds.clients[client], let list = store.list(client) else { continue }
            for r in ranges.reversed() {
                var si = min(list.count - 1, 1 + list.findIndex(r.clock + r.length - 1))
                while si > 0 && list[si].id.clock >= r.clock {
                    si -= 1 + mergeWithLefts(list, si)
                }
            }
        }
    }

    /// Merges `structs[pos]` into its left neighbours while possible; returns
    /// how many structs were removed (the survivor is at `pos` minus that).
    ///
    /// The run is found first and then merged left to right, so the survivor's
    /// content grows by appending each neighbour: merging right to left would
    /// copy the whole accumulated content at every step, quadratic in the run.
    private func mergeWithLefts(_ structs: ClientStructs, _ pos: Int) -> Int {
        var first = pos
        while first > 0, Self.canMerge(structs[first - 1], structs[first]), notRedone(structs[first - 1], structs[first]) { first -= 1 }
        guard first < pos else { return 0 }
        let survivor = structs[first]
        var merged = 0
        for k in (first + 1)...pos {
            let right = structs[k]
            guard mergeStructs(survivor, right) else { break }
            if let key = right.parentSub, let parent = right.parent, parent.map[key] === right {
                parent.map[key] = survivor
            }
            merged += 1
        }
        if merged > 0 {
            // Typing merges the newest struct into its left neighbour: a
            // removal at the end, which needs no general range replacement.
            structs.removeSubrange((first + 1)...(first + merged))
        }
        return merged
    }

    /// Whether `right` can be merged into `left`, its neighbour in the struct
    /// list (the conditions ``mergeStructs(_:_:)`` checks, without merging).
    /// Mergeability is pairwise: a merged struct keeps its left part's start
    /// and its right part's last id, so a run of pairwise mergeable structs
    /// merges into one.
    private static func canMerge(_ left: Item, _ right: Item) -> Bool {
        if left.isGC || right.isGC { return left.isGC && right.isGC }
        // Deleted, JSON, string and Any contents merge (spec 3.5 references 1, 2, 4, 8).
        let mergeableContent = left.contentRef == 1 || left.contentRef == 2 || left.contentRef == 4 || left.contentRef == 8
        return left.deleted == right.deleted && mergeableContent && left.contentRef == right.contentRef
            && right.origin == left.lastID && left.right === right && left.rightOrigin == right.rightOrigin
            && left.id.client == right.id.client && left.id.clock + left.length == right.id.clock
    }

    /// Items that were redone keep their identity (Yjs merges neither).
    @inline(__always) private func notRedone(_ left: Item, _ right: Item) -> Bool {
        redone.isEmpty || (redone[left.id] == nil && redone[right.id] == nil)
    }

    private func mergeStructs(_ left: Item, _ right: Item) -> Bool {
        guard notRedone(left, right) else { return false }
        if left.isGC {
            left.length += right.length
            return true
        }
        guard right.origin == left.lastID, left.right === right, left.rightOrigin == right.rightOrigin,
              left.id.client == right.id.client, left.id.clock + left.length == right.id.clock,
              left.contentRef == right.contentRef, left.content.merge(with: right.content)
        else { return false }
        if left.parentSub == nil, let parent = left.parent { parent.index.willMerge(left, right) }
        if right.keep { left.keep = true }
        left.right = right.right
        if let r = left.right { r.left = left }
        left.length += right.length
        right.right = nil
        return true
    }

    // MARK: Encoding

    /// Writes the struct section: every client whose state exceeds `sv`,
    /// from the clock given there (spec 5.3, 5.6).
    func writeStructs(_ enc: inout Lib0Encoder, from sv: [Int: Int]) {
        var targets: [(client: Int, clock: Int)] = []
        for (client, list) in store.clients {
            guard let last = list.last else { continue }
            let state = last.id.clock + last.length
            let from = sv[client] ?? 0
            if state > from { targets.append((client, from)) }
        }
        writeStructs(&enc, targets: targets)
    }

    /// Writes the given clients' structs from the given clocks, clients in descending order.
    func writeStructs(_ enc: inout Lib0Encoder, targets unsorted: [(client: Int, clock: Int)]) {
        let targets = unsorted.sorted { $0.client > $1.client }
        enc.writeVarUInt(targets.count)
        for (client, fromClock) in targets {
            guard let structs = store.list(client), let first = structs.first else { continue }
            let clock = max(fromClock, first.id.clock)
            let start = structs.findIndex(clock)
            enc.writeVarUInt(structs.count - start)
            enc.writeVarUInt(client)
            enc.writeVarUInt(clock)
            structs[start].write(&enc, offset: clock - structs[start].id.clock)
            structs.forEachUnretained(from: start + 1, warming: { $0.warmForWrite() }) { $0.write(&enc, offset: 0) }
        }
    }

    /// The delete set of everything deleted in the document (spec 3.8).
    func deleteSetFromStore() -> DeleteSet {
        var ds = DeleteSet()
        for (client, list) in store.clients {
            var ranges: [DeleteSet.Range] = []
            // Adjacent deleted structs make one range (clocks are contiguous).
            var open: DeleteSet.Range?
            list.forEachUnretained { s in
                if s.deleted {
                    if open == nil { open = .init(clock: s.id.clock, length: 0) }
                    open?.length += s.length
                } else if let r = open {
                    ranges.append(r)
                    open = nil
                }
            }
            if let r = open { ranges.append(r) }
            if !ranges.isEmpty {
                ds.clients[client] = ranges
                ds.clientOrder.append(client)
            }
        }
        return ds
    }

    /// The state vector of the document (spec 5.1).
    public func encodeStateVector() -> [UInt8] { CRDT.encodeStateVector(store.stateVector()) }

    /// The state as client → clock.
    public var stateVector: [Int: Int] { store.stateVector() }

    /// Everything the holder of `stateVector` lacks, as one v1 update
    /// (spec 5.3), including pending structs and deletes (spec 5.5).
    public func encodeStateAsUpdate(since stateVector: [UInt8]? = nil) throws(CRDTError) -> [UInt8] {
        let sv = try stateVector.map { (b) throws(CRDTError) in try decodeStateVector(b) } ?? [:]
        return encodeStateAsUpdate(since: sv)
    }

    /// Everything a peer with state `sv` lacks, as one v1 update.
    public func encodeStateAsUpdate(since sv: [Int: Int]) -> [UInt8] {
        // One allocation of about the right size: structs plus content units.
        var estimate = 64
        for (client, list) in store.clients {
            let unknown = store.state(client) - (sv[client] ?? 0)
            if unknown > 0 { estimate += min(unknown, list.count) * 16 + unknown }
        }
        var enc = Lib0Encoder(capacity: estimate)
        writeStructs(&enc, from: sv)
        deleteSetFromStore().write(&enc)
        guard store.pending != nil || store.pendingDeleteSet != nil,
              let own = try? DecodedUpdate.decode(enc.bytes)
        else { return enc.finish() }
        var parts = [own]
        if let pds = store.pendingDeleteSet { parts.append(DecodedUpdate(clients: [], deleteSet: pds)) }
        if let ps = store.pending { parts.append(Updates.diff(ps.update, stateVector: sv)) }
        return Updates.merge(decoded: parts).encode()
    }

    /// Whether structs or deletes wait for missing dependencies.
    public var hasPending: Bool { store.pending != nil || store.pendingDeleteSet != nil }
}
