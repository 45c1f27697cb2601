/// A value to put into a map or array: plain JSON-like data, binary, or a
/// new nested shared type with its initial content (Yjs prelim types).
public indirect enum YInput: Sendable {
    case value(YAny)
    case binary([UInt8])
    /// A new nested map; entries are set in the given order.
    case map([(String, YInput)])
    /// A new nested array with initial elements.
    case array([YInput])
    /// A new nested text with initial content.
    case text(String)
    /// A new XML element: its children are inserted, then its attributes set (as Yjs does).
    case xmlElement(String, attributes: [(String, YAny)], children: [YInput])
    /// A new XML text node.
    case xmlText(String)
}

/// The state shared by every kind of shared type (Yjs `AbstractType`): the
/// item list of a sequence, the key → rightmost-entry map, and observers.
public final class Branch {
    /// The document. Unowned for speed (weak references make every
    /// retain of the referenced object take the slow path); ``Doc`` clears
    /// it before the document goes away.
    @exclusivity(unchecked) unowned(unsafe) var doc: Doc?
    /// The item whose content is this type; nil for a root type. Cleared
    /// when the item's content is garbage-collected.
    @exclusivity(unchecked) unowned(unsafe) var item: Item?
    @exclusivity(unchecked) var rootName: String?
    @exclusivity(unchecked) var kind: TypeKind
    @exclusivity(unchecked) var start: Item?
    @exclusivity(unchecked) var map: [String: Item] = [:]
    /// Map keys in the order they were first set. Yjs iterates its map in
    /// this order when it deletes a type, and the order of a transaction's
    /// deletions is observable (its delete set drives the text cleanup).
    @exclusivity(unchecked) var mapOrder: [String] = []
    /// Visible length of the sequence.
    @exclusivity(unchecked) var length = 0
    @exclusivity(unchecked) var hasFormatting = false
    /// Nesting level: 0 for a root type.
    @exclusivity(unchecked) var depth = 0
    /// Deepest nesting accepted. Deeper nested types from the wire are
    /// dropped (integrated as garbage-collected) and refused locally, so that
    /// no recursion over a document can exhaust the stack.
    static let maxDepth = 200
    /// Whether any string content ever integrated here holds a UTF-16 surrogate.
    @exclusivity(unchecked) var hasSurrogates = false
    /// Finds items by visible position.
    @exclusivity(unchecked) var index = SequenceIndex()
    /// Initial content of a type not integrated yet.
    @exclusivity(unchecked) var prelim: YInput?
    @exclusivity(unchecked) var observers: [(id: Int, handler: (YEvent) -> Void)] = []
    @exclusivity(unchecked) var deepObservers: [(id: Int, handler: ([YEvent]) -> Void)] = []

    init(kind: TypeKind) {
        self.kind = kind
    }

    /// Cuts the type loose from its document: no items, no document, no item.
    /// Wrappers an application still holds then read an empty type.
    func detach() {
        start = nil
        map = [:]
        mapOrder = []
        index.removeAll()
        length = 0
        doc = nil
        item = nil
    }

    /// Path from the root: root name first, then keys and indexes.
    var path: [PathSegment] {
        var segments: [PathSegment] = []
        var b: Branch? = self
        while let branch = b {
            guard let item = branch.item, let parent = item.parent else {
                segments.append(.key(branch.rootName ?? ""))
                break
            }
            if let key = item.parentSub {
                segments.append(.key(key))
            } else {
                var index = 0
                var n = parent.start
                while let x = n, x !== item {
                    if x.isVisible { index += x.length }
                    n = x.right
                }
                segments.append(.index(index))
            }
            b = parent
        }
        return segments.reversed()
    }

    // MARK: Reading

    /// Visible values of a sequence, nested types as `YAny` JSON.
    func sequenceValues() -> [YAny] {
        var out: [YAny] = []
        var n = start
        while let item = n {
            if item.isVisible { out.append(contentsOf: item.content.values()) }
            n = item.right
        }
        return out
    }

    /// The current value item of a map key.
    func mapItem(_ key: String) -> Item? {
        guard let item = map[key], !item.deleted else { return nil }
        return item
    }

    /// Visible keys of a map, sorted.
    func mapKeys() -> [String] {
        map.compactMap { $0.value.deleted ? nil : $0.key }.sorted()
    }

    /// The type as JSON: text as string, map as object, array as array.
    func toJSON() -> YAny {
        switch kind {
        case .text:
            return .string(textString())
        case .xmlText, .xmlFragment, .xmlElement:
            // Yjs: an XML type's JSON is its markup.
            return .string(xmlString())
        case .map:
            return .object(mapKeys().compactMap { k in map[k].flatMap { $0.content.values().last }.map { (k, $0) } })
        case .array, .xmlHook:
            return .array(sequenceValues())
        case .undetermined:
            if start != nil { return .array(sequenceValues()) }
            return .object(mapKeys().compactMap { k in map[k].flatMap { $0.content.values().last }.map { (k, $0) } })
        }
    }

    /// Concatenated visible string content.
    func textString() -> String {
        var units: [UInt16] = []
        var n = start
        while let item = n {
            if !item.deleted, case .string(let s) = item.content { units.append(contentsOf: s) }
            n = item.right
        }
        return String(decoding: units, as: UTF16.self)
    }

    // MARK: Prelim content

    /// Writes the initial content given at creation, right after the type's
    /// own item (Yjs `_integrate` of prelim types).
    func integratePrelim(_ txn: Transaction) {
        guard let content = prelim else { return }
        prelim = nil
        switch content {
        case .map(let entries):
            for (k, v) in Self.mapOrdered(entries) { mapSet(txn, key: k, value: v) }
        case .array(let values):
            insertSequence(txn, at: 0, values)
        case .text(let s), .xmlText(let s):
            YText(branch: self).insert(txn, index: 0, text: Array(s.utf16), attributes: nil)
        case .xmlElement(_, let attributes, let children):
            insertSequence(txn, at: 0, children)
            for (k, v) in Self.mapOrdered(attributes) { mapSet(txn, key: k, value: .value(v)) }
        default:
            break
        }
    }

    /// Entries as a JavaScript `Map` keeps them (Yjs holds prelim entries in
    /// one): a repeated key keeps its first place and takes its last value.
    static func mapOrdered<V>(_ entries: [(String, V)]) -> [(String, V)] {
        var out: [(String, V)] = []
        var slot: [String: Int] = [:]
        for (k, v) in entries {
            if let i = slot[k] { out[i].1 = v } else {
                slot[k] = out.count
                out.append((k, v))
            }
        }
        return out
    }

    // MARK: Editing helpers

    /// A new item created by this replica at the end of its clock range.
    func newItem(_ txn: Transaction, left: Item?, right: Item?, parentSub: String?, content: ItemContent) -> Item {
        let doc = txn.doc
        let client = doc.clientID
        return Item(
            id: ID(client: client, clock: doc.store.state(client)), left: left, origin: left?.lastID, right: right,
            rightOrigin: right?.id, parent: self, parentSub: parentSub, content: content)
    }

    static func content(for input: YInput) -> ItemContent {
        switch input {
        case .value(let v): return .any([v])
        case .binary(let b): return .binary(b)
        case .map: return .type(makePrelim(.map, input))
        case .array: return .type(makePrelim(.array, input))
        case .text: return .type(makePrelim(.text, input))
        case .xmlElement(let name, _, _): return .type(makePrelim(.xmlElement(name), input))
        case .xmlText: return .type(makePrelim(.xmlText, input))
        }
    }

    private static func makePrelim(_ kind: TypeKind, _ input: YInput) -> Branch {
        let b = Branch(kind: kind)
        b.prelim = input
        return b
    }

    /// Inserts values after `left` (nil: at the start), packing consecutive
    /// JSON values into one item (spec 6.7).
    func insertAfter(_ txn: Transaction, _ reference: Item?, _ values: [YInput]) {
        var left = reference
        let right = reference == nil ? start : reference?.right
        var pack: [YAny] = []
        func flush() {
            guard !pack.isEmpty else { return }
            let item = newItem(txn, left: left, right: right, parentSub: nil, content: .any(pack))
            txn.doc.integrate(item, txn)
            left = item
            pack = []
        }
        for v in values {
            if case .value(let any) = v {
                pack.append(any)
                continue
            }
            flush()
            let item = newItem(txn, left: left, right: right, parentSub: nil, content: Branch.content(for: v))
            txn.doc.integrate(item, txn)
            left = item
        }
        flush()
    }

    /// Inserts values at a visible index of an array-like sequence.
    func insertSequence(_ txn: Transaction, at index: Int, _ values: [YInput]) {
        if index == 0 {
            insertAfter(txn, nil, values)
            return
        }
        insertAfter(txn, visibleItem(endingAt: index, txn), values)
    }

    /// Inserts values at `index` in a transaction of its own (or the current
    /// one), after checking the index and the nesting depth.
    func insertChecked(_ index: Int, _ values: [YInput]) throws(CRDTError) {
        guard index >= 0, index <= length else {
            throw CRDTError(.indexOutOfRange, "index \(index) out of range (length \(length))")
        }
        guard !values.isEmpty else { return }
        guard let doc else { throw CRDTError(.invalidValue, "the type is not part of a document") }
        for v in values { try checkNesting(v) }
        doc.transact { txn in insertSequence(txn, at: index, values) }
    }

    /// Deletes `count` visible units from `index`, after checking the range.
    func deleteChecked(_ index: Int, _ count: Int) throws(CRDTError) {
        guard index >= 0, count >= 0, index + count <= length else {
            throw CRDTError(.indexOutOfRange, "range \(index)+\(count) out of range (length \(length))")
        }
        guard count > 0, let doc else { return }
        doc.transact { txn in deleteSequence(txn, at: index, count: count) }
    }

    /// Appends after the very last item of the list, deleted ones included.
    func pushSequence(_ txn: Transaction, _ values: [YInput]) {
        insertAfter(txn, index.lastItem(), values)
    }

    /// Deletes `count` visible units from `at`.
    func deleteSequence(_ txn: Transaction, at position: Int, count: Int) {
        guard count > 0 else { return }
        var remaining = position
        var n = start
        while let x = n, remaining > 0 {
            if x.isVisible {
                if remaining < x.length {
                    _ = txn.doc.store.itemCleanStart(txn, ID(client: x.id.client, clock: x.id.clock + remaining))
                }
                remaining -= x.length
            }
            n = x.right
        }
        var left = count
        while left > 0, let x = n {
            if x.isVisible {
                if left < x.length {
                    _ = txn.doc.store.itemCleanStart(txn, ID(client: x.id.client, clock: x.id.clock + left))
                }
                left -= x.length
                txn.doc.deleteItem(x, txn)
            }
            n = x.right
        }
    }

    /// The visible item whose content ends exactly at `position` (> 0), split
    /// if needed; its right neighbour may be deleted.
    func visibleItem(endingAt position: Int, _ txn: Transaction) -> Item? {
        guard let (x, offset) = index.item(containing: position - 1) else { return nil }
        if offset + 1 < x.length {
            _ = txn.doc.store.itemCleanStart(txn, ID(client: x.id.client, clock: x.id.clock + offset + 1))
        }
        return x
    }

    /// Throws if inserting `value` here would nest types deeper than ``maxDepth``.
    func checkNesting(_ value: YInput) throws(CRDTError) {
        func levels(_ v: YInput) -> Int {
            switch v {
            case .value, .binary: return 0
            case .text, .xmlText: return 1
            case .xmlElement(_, _, let children): return 1 + (children.map(levels).max() ?? 0)
            case .map(let entries): return 1 + (entries.map { levels($0.1) }.max() ?? 0)
            case .array(let items): return 1 + (items.map(levels).max() ?? 0)
            }
        }
        if depth + levels(value) > Branch.maxDepth {
            throw CRDTError(.invalidValue, "nested types deeper than \(Branch.maxDepth) levels")
        }
    }

    // MARK: Maps

    func mapSet(_ txn: Transaction, key: String, value: YInput) {
        let left = map[key]
        let item = newItem(txn, left: left, right: nil, parentSub: key, content: Branch.content(for: value))
        txn.doc.integrate(item, txn)
    }

    func mapDelete(_ txn: Transaction, key: String) {
        if let item = map[key] { txn.doc.deleteItem(item, txn) }
    }
}
