/// Undo and redo of this replica's own changes to a set of shared types
/// (Yjs `UndoManager`, the same semantics and the same resulting updates).
///
/// Each tracked transaction that changes a type in scope becomes a stack
/// item: what it inserted and what it deleted. Undo deletes the insertions
/// and re-creates the deleted content as new items at their old places;
/// changes by other replicas stay (undo never removes someone else's edit).
/// Transactions within `captureTimeout` of the previous one join its stack
/// item; ``stopCapturing()`` starts a new one.
///
/// Deleted items in scope are kept from garbage collection while a stack
/// item refers to them (they are needed to redo); ``clear(undoStack:redoStack:)``
/// releases them.
public final class UndoManager {
    /// Which shared types an undo manager tracks.
    public enum Scope {
        case text(YText)
        case map(YMap)
        case array(YArray)
        case xmlFragment(YXmlFragment)

        var branch: Branch {
            switch self {
            case .text(let t): t.branch
            case .map(let m): m.branch
            case .array(let a): a.branch
            case .xmlFragment(let x): x.branch
            }
        }
    }

    /// The origin of the transactions that undo and redo run in.
    public struct Origin: Sendable, Hashable {
        let manager: ObjectIdentifier
    }

    /// One undo (or redo) step.
    public final class StackItem {
        var deletions: DeleteSet
        var insertions: DeleteSet
        /// The application's own data for this step, such as the cursor
        /// position to restore when it is undone (set it in ``onStackItemAdded``,
        /// read it in ``onStackItemPopped``).
        public var meta: [String: any Sendable] = [:]
        init(deletions: DeleteSet, insertions: DeleteSet) {
            self.deletions = deletions
            self.insertions = insertions
        }
    }

    /// Which stack a step is on.
    public enum Stack: Sendable, Equatable {
        case undo, redo
    }

    /// Called when a tracked change pushed a new step, with the stack it is on
    /// and the change's transaction.
    public var onStackItemAdded: ((StackItem, Stack, Transaction) -> Void)?
    /// Called when a tracked change joined the last step (within `captureTimeout`).
    public var onStackItemUpdated: ((StackItem, Stack, Transaction) -> Void)?
    /// Called when ``undo()`` or ``redo()`` applied a step, with the stack it came from.
    public var onStackItemPopped: ((StackItem, Stack) -> Void)?

    public let doc: Doc
    private var scope: [Branch]
    /// Origins whose transactions are tracked besides local ones without an origin.
    public var trackedOrigins: Set<AnyHashable>
    public var captureTimeout: Duration
    private var undoStack: [StackItem] = []
    private var redoStack: [StackItem] = []
    private var undoing = false
    private var redoing = false
    private var lastChange: ContinuousClock.Instant?
    private var handlerToken: Int?

    /// Tracks `scope` in `doc`: local transactions without an origin, and
    /// those whose origin is in `trackedOrigins`. Applied updates are not
    /// tracked unless their origin is listed.
    public init(_ doc: Doc, scope: [Scope], captureTimeout: Duration = .milliseconds(500), trackedOrigins: Set<AnyHashable> = []) {
        self.doc = doc
        self.scope = []
        self.trackedOrigins = trackedOrigins
        self.captureTimeout = captureTimeout
        addToScope(scope)
        handlerToken = doc.onAfterTransaction { [weak self] txn in self?.capture(txn) }
    }

    deinit {
        if let handlerToken { doc.removeHandler(handlerToken) }
    }

    /// The origin of this manager's own transactions.
    public var origin: Origin { Origin(manager: ObjectIdentifier(self)) }

    /// Adds shared types to the scope.
    public func addToScope(_ types: [Scope]) {
        for t in types where !scope.contains(where: { $0 === t.branch }) { scope.append(t.branch) }
    }

    public var canUndo: Bool { !undoStack.isEmpty }
    public var canRedo: Bool { !redoStack.isEmpty }

    /// The next change starts a new stack item instead of joining the last one.
    public func stopCapturing() {
        lastChange = nil
    }

    /// Undoes the last stack item that still changes something; returns
    /// whether anything changed.
    @discardableResult
    public func undo() -> Bool {
        undoing = true
        defer { undoing = false }
        return pop(fromUndoStack: true)
    }

    /// Redoes the last undone stack item; returns whether anything changed.
    @discardableResult
    public func redo() -> Bool {
        redoing = true
        defer { redoing = false }
        return pop(fromUndoStack: false)
    }

    /// Empties the stacks and lets the deleted content they kept be collected.
    public func clear(undoStack clearUndo: Bool = true, redoStack clearRedo: Bool = true) {
        guard (clearUndo && canUndo) || (clearRedo && canRedo) else { return }
        doc.transact { txn in
            if clearUndo {
                for item in undoStack { release(item, txn) }
                undoStack = []
            }
            if clearRedo {
                for item in redoStack { release(item, txn) }
                redoStack = []
            }
        }
    }

    // MARK: Capturing

    private func isTracked(_ txn: Transaction) -> Bool {
        guard let origin = txn.origin else { return txn.local }
        if let o = origin as? Origin { return o.manager == ObjectIdentifier(self) }
        if let h = origin as? AnyHashable { return trackedOrigins.contains(h) }
        return false
    }

    /// Whether the transaction changed a type in scope (or one nested in it).
    private func touchesScope(_ txn: Transaction) -> Bool {
        txn.changedBranches.contains { branch in !(branch.item?.deleted ?? false) && covers(branch) }
    }

    private func inScope(_ item: Item) -> Bool { covers(item.parent) }

    /// Whether `branch` is in scope or nested in a type that is.
    private func covers(_ branch: Branch?) -> Bool {
        var b = branch
        while let x = b {
            if scope.contains(where: { $0 === x }) { return true }
            b = x.item?.parent
        }
        return false
    }

    private func capture(_ txn: Transaction) {
        guard isTracked(txn), touchesScope(txn) else { return }
        let (isUndoing, isRedoing) = (undoing, redoing)
        if isUndoing {
            stopCapturing()
        } else if !isRedoing {
            clear(undoStack: false, redoStack: true)
        }
        var insertions = DeleteSet()
        for client in txn.touchedOrder {
            let before = txn.beforeState(client), after = doc.store.state(client)
            if after > before { insertions.add(client: client, clock: before, length: after - before) }
        }
        let now = ContinuousClock.now
        let stack: Stack = isUndoing ? .redo : .undo
        let step: StackItem
        let added: Bool
        if let last = lastChange, now - last < captureTimeout, !isUndoing, !isRedoing, let top = undoStack.last {
            top.deletions = DeleteSet.merged([top.deletions, txn.deleteSet])
            top.insertions = DeleteSet.merged([top.insertions, insertions])
            (step, added) = (top, false)
        } else {
            step = StackItem(deletions: txn.deleteSet, insertions: insertions)
            if isUndoing { redoStack.append(step) } else { undoStack.append(step) }
            added = true
        }
        if !isUndoing && !isRedoing { lastChange = now }
        // What was deleted must survive garbage collection to be redone.
        forEachStruct(in: txn.deleteSet, txn) { item in
            if !item.isGC, inScope(item) { Self.keep(item, true) }
        }
        if added { onStackItemAdded?(step, stack, txn) } else { onStackItemUpdated?(step, stack, txn) }
    }

    private func release(_ stackItem: StackItem, _ txn: Transaction) {
        forEachStruct(in: stackItem.deletions, txn) { item in
            if !item.isGC, inScope(item) { Self.keep(item, false) }
        }
    }

    /// Marks an item and its ancestors as kept (or not).
    static func keep(_ item: Item, _ keep: Bool) {
        var next: Item? = item
        while let i = next, i.keep != keep {
            i.keep = keep
            next = i.parent?.item
        }
    }

    // MARK: Undo and redo

    private func pop(fromUndoStack: Bool) -> Bool {
        var performed: StackItem?
        // The stacks are read here and pushed to when the transaction ends
        // (in `capture`), so they are not held across it.
        func next() -> StackItem? { fromUndoStack ? undoStack.popLast() : redoStack.popLast() }
        doc.transact(origin: origin, local: true) { txn in
            while performed == nil, let stackItem = next() {
                var toDelete: [Item] = []
                forEachStruct(in: stackItem.insertions, txn) { found in
                    guard !found.isGC else { return }
                    var item = found
                    if doc.redone[item.id] != nil, let (target, diff) = followRedone(item.id) {
                        item = diff > 0 ? (doc.store.itemCleanStart(txn, ID(client: target.id.client, clock: target.id.clock + diff)) ?? target) : target
                    }
                    if !item.deleted && inScope(item) { toDelete.append(item) }
                }
                var toRedo: [Item] = []
                var toRedoSet = Set<ObjectIdentifier>()
                forEachStruct(in: stackItem.deletions, txn) { item in
                    // Content inserted and deleted within one stack item is not redone.
                    if !item.isGC, inScope(item), !stackItem.insertions.contains(item.id),
                       toRedoSet.insert(ObjectIdentifier(item)).inserted {
                        toRedo.append(item)
                    }
                }
                var changed = false
                for item in toRedo where redo(item, toRedoSet, stackItem.insertions, txn) != nil { changed = true }
                // Children before parents.
                for item in toDelete.reversed() {
                    doc.deleteItem(item, txn)
                    changed = true
                }
                if changed { performed = stackItem }
            }
        }
        guard let performed else { return false }
        onStackItemPopped?(performed, fromUndoStack ? .undo : .redo)
        return true
    }

    /// The item an id was last redone as, and the offset of the id inside it.
    private func followRedone(_ id: ID) -> (Item, Int)? {
        var next = id
        var last: (Item, Int)?
        while let found = doc.store.find(next) {
            let diff = next.clock - found.id.clock
            last = (found, diff)
            guard !found.isGC, let r = doc.redone[found.id] else { break }
            next = ID(client: r.client, clock: r.clock + diff)
        }
        return last
    }

    /// Re-creates a deleted item at its old place (Yjs `redoItem`); nil
    /// when it cannot be (its parent is gone for good, or a concurrent map
    /// change took its key).
    private func redo(_ item: Item, _ redoItems: Set<ObjectIdentifier>, _ insertions: DeleteSet, _ txn: Transaction) -> Item? {
        let store = doc.store
        if let r = doc.redone[item.id] { return store.itemCleanStart(txn, r) }
        guard let oldParent = item.parent else { return nil }
        var parentItem = oldParent.item
        if let p = parentItem, p.deleted {
            if doc.redone[p.id] == nil, !redoItems.contains(ObjectIdentifier(p)) || redo(p, redoItems, insertions, txn) == nil {
                return nil
            }
            while let p = parentItem, let r = doc.redone[p.id] { parentItem = store.itemCleanStart(txn, r) }
        }
        let parentType: Branch
        if let p = parentItem {
            guard case .type(let b) = p.content else { return nil }
            parentType = b
        } else {
            parentType = oldParent
        }
        var left: Item?
        var right: Item?
        if item.parentSub == nil {
            // A sequence item goes back between the nearest neighbours that
            // are (or were redone into) the same parent.
            left = item.left
            right = item
            left = sameParent(from: left, parentItem, txn) { $0.left }
            right = sameParent(from: right, parentItem, txn) { $0.right }
        } else if item.right != nil {
            left = item
            // A newer entry that this step deletes anyway is replaced by the redone one.
            while let l = left, let lr = l.right, insertions.contains(lr.id) { left = lr }
            while let l = left, let r = doc.redone[l.id] { left = store.itemCleanStart(txn, r) }
            // A newer entry from someone else wins: do not overwrite it.
            if let l = left, l.right != nil { return nil }
        } else {
            left = item.parentSub.flatMap { parentType.map[$0] }
        }
        let redone = parentType.newItem(txn, left: left, right: right, parentSub: item.parentSub, content: item.content.redoCopy())
        doc.redone[item.id] = redone.id
        Self.keep(redone, true)
        doc.integrate(redone, txn)
        return redone
    }

    /// The first item from `start` (moving with `step`) that is, or was
    /// redone into, a child of `parentItem`.
    private func sameParent(from start: Item?, _ parentItem: Item?, _ txn: Transaction, _ step: (Item) -> Item?) -> Item? {
        var candidate = start
        while let c = candidate {
            var trace: Item? = c
            while let t = trace, t.parent?.item !== parentItem {
                trace = doc.redone[t.id].flatMap { doc.store.itemCleanStart(txn, $0) }
            }
            if let t = trace { return t }
            candidate = step(c)
        }
        return nil
    }

    /// Calls `body` with every struct in the delete set's ranges, splitting
    /// structs at the range bounds (Yjs `iterateDeletedStructs`).
    private func forEachStruct(in ds: DeleteSet, _ txn: Transaction, _ body: (Item) -> Void) {
        let store = doc.store
        for client in ds.clientOrder {
            guard let ranges = ds.clients[client] else { continue }
            for r in ranges where r.length > 0 {
                guard let list = store.list(client), r.clock < list.endClock else { continue }
                let end = r.clock + r.length
                _ = store.itemCleanStart(txn, ID(client: client, clock: r.clock))
                var index = list.findIndex(r.clock)
                repeat {
                    let s = list[index]
                    index += 1
                    if end < s.id.clock + s.length { _ = store.itemCleanStart(txn, ID(client: client, clock: end)) }
                    body(s)
                } while index < list.count && list[index].id.clock < end
            }
        }
    }
}

extension ItemContent {
    /// The content a redone item gets: the same values, or a new empty type
    /// of the same kind (its children are redone one by one).
    func redoCopy() -> ItemContent {
        if case .type(let b) = self { return .type(Branch(kind: b.kind)) }
        return self
    }
}
