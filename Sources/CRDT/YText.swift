/// One run of a rich-text delta (Quill format): inserted text or embed with
/// its attributes, or (in events) a retain or delete.
public struct TextDelta: Sendable, Equatable {
    public enum Op: Sendable, Equatable {
        case insert(String)
        case insertEmbed(YAny)
        case retain(Int)
        case delete(Int)
    }
    public var op: Op
    /// Attributes in key order; empty when none.
    public var attributes: [(String, YAny)]

    public init(_ op: Op, attributes: [(String, YAny)] = []) {
        self.op = op
        self.attributes = attributes
    }

    public static func == (a: TextDelta, b: TextDelta) -> Bool {
        a.op == b.op && YAny.object(a.attributes) == YAny.object(b.attributes)
    }
}

/// Shared rich text (Yjs `Y.Text`). Indexes are UTF-16 code units, as in
/// Yjs; the `Character`-based helpers convert from Swift positions. No edit
/// ever splits a surrogate pair.
public struct YText {
    let branch: Branch
    /// Keeps the document alive while this handle is: items refer to their
    /// document without owning it, so a handle outliving its `Doc` (as in
    /// `Doc(...).getText("t").toString()`) would otherwise read emptied content.
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    var doc: Doc? { branch.doc }

    /// Length in UTF-16 code units.
    public var length: Int { branch.length }

    /// The plain text.
    public func toString() -> String { branch.textString() }

    // MARK: Public editing API

    /// Inserts `text` at UTF-16 offset `index`. Without `attributes` the text
    /// takes the formatting in effect at that position; with `[:]` it has none.
    public func insert(_ index: Int, _ text: String, attributes: [String: YAny]? = nil) throws(CRDTError) {
        guard !text.isEmpty else { return }
        try checkRange(index, 0)
        guard let doc else { throw CRDTError(.invalidValue, "text is not part of a document") }
        doc.transact { txn in
            if attributes?.isEmpty ?? true, !branch.hasFormatting {
                insertUnformatted(txn, findPosition(txn, index), text.utf16)
            } else {
                insert(txn, index: index, text: Array(text.utf16), attributes: attributes.map(Self.sorted))
            }
        }
    }

    /// Inserts an embed (any JSON value) at `index`.
    public func insertEmbed(_ index: Int, _ value: YAny, attributes: [String: YAny]? = nil) throws(CRDTError) {
        try checkRange(index, 0)
        guard let doc else { throw CRDTError(.invalidValue, "text is not part of a document") }
        doc.transact { txn in
            let pos = findPosition(txn, index)
            insertContent(txn, pos, .embed(value), attributes.map(Self.sorted))
        }
    }

    /// Deletes `count` UTF-16 code units from `index`.
    public func delete(_ index: Int, count: Int) throws(CRDTError) {
        guard count > 0 else { return }
        try checkRange(index, count)
        guard let doc else { throw CRDTError(.invalidValue, "text is not part of a document") }
        doc.transact { txn in delete(txn, index: index, count: count) }
    }

    /// Sets attributes on a range; a `.null` value removes an attribute.
    public func format(_ index: Int, length: Int, attributes: [String: YAny]) throws(CRDTError) {
        guard length > 0 else { return }
        try checkRange(index, length)
        guard let doc else { throw CRDTError(.invalidValue, "text is not part of a document") }
        doc.transact { txn in format(txn, index: index, length: length, attributes: Self.sorted(attributes)) }
    }

    /// Applies a Quill delta (retain / insert / delete, with attributes) in
    /// one transaction. Inserts without attributes get no formatting; a
    /// retain with attributes formats that range.
    public func applyDelta(_ delta: [TextDelta]) throws(CRDTError) {
        guard let doc else { throw CRDTError(.invalidValue, "text is not part of a document") }
        // Validate first so that a bad delta changes nothing.
        var simulated = length
        var index = 0
        for op in delta {
            switch op.op {
            case .retain(let n), .delete(let n):
                guard n >= 0, index + n <= simulated else {
                    throw CRDTError(.indexOutOfRange, "delta op \(op.op) past the end (length \(simulated))")
                }
                if case .delete = op.op { simulated -= n } else { index += n }
            case .insert(let s):
                simulated += s.utf16.count
                index += s.utf16.count
            case .insertEmbed:
                simulated += 1
                index += 1
            }
        }
        doc.transact { txn in
            var index = 0
            for op in delta {
                let attrs = Dictionary(op.attributes, uniquingKeysWith: { _, b in b })
                switch op.op {
                case .retain(let n):
                    if !attrs.isEmpty { format(txn, index: index, length: n, attributes: Self.sorted(attrs)) }
                    index += n
                case .delete(let n):
                    if n > 0 { delete(txn, index: index, count: n) }
                case .insert(let s):
                    insert(txn, index: index, text: Array(s.utf16), attributes: Self.sorted(attrs))
                    index += s.utf16.count
                case .insertEmbed(let v):
                    insertContent(txn, findPosition(txn, index), .embed(v), Self.sorted(attrs))
                    index += 1
                }
            }
        }
    }

    /// UTF-16 offset of the `characters`-th Swift `Character` (grapheme cluster).
    public func utf16Offset(ofCharacter characters: Int) throws(CRDTError) -> Int {
        let s = toString()
        guard characters >= 0, characters <= s.count else {
            throw CRDTError(.indexOutOfRange, "character \(characters) out of range (\(s.count) characters)")
        }
        return s.utf16.distance(from: s.startIndex, to: s.index(s.startIndex, offsetBy: characters))
    }

    /// Inserts at a `Character` position.
    public func insert(atCharacter position: Int, _ text: String, attributes: [String: YAny]? = nil) throws(CRDTError) {
        try insert(try utf16Offset(ofCharacter: position), text, attributes: attributes)
    }

    /// Deletes `count` `Character`s starting at a `Character` position.
    public func delete(atCharacter position: Int, count: Int) throws(CRDTError) {
        let start = try utf16Offset(ofCharacter: position)
        let end = try utf16Offset(ofCharacter: position + count)
        try delete(start, count: end - start)
    }

    private static func sorted(_ attrs: [String: YAny]) -> [(String, YAny)] {
        attrs.sorted { Array($0.key.utf16).lexicographicallyPrecedes(Array($1.key.utf16)) }.map { ($0.key, $0.value) }
    }

    private func checkRange(_ index: Int, _ count: Int) throws(CRDTError) {
        guard index >= 0, count >= 0, index + count <= length else {
            throw CRDTError(.indexOutOfRange, "range \(index)+\(count) out of range (length \(length))")
        }
        // Both ends (`splitsSurrogatePair` is false at 0 and at the end).
        if splitsSurrogatePair(at: index) {
            throw CRDTError(.surrogateSplit, "UTF-16 offset \(index) falls inside a surrogate pair")
        }
        if count > 0, splitsSurrogatePair(at: index + count) {
            throw CRDTError(.surrogateSplit, "UTF-16 offset \(index + count) falls inside a surrogate pair")
        }
    }

    /// Whether offset `index` lies between a lead and a trail surrogate.
    func splitsSurrogatePair(at index: Int) -> Bool {
        guard branch.hasSurrogates, index > 0, index < length,
              let (item, offset) = branch.index.item(containing: index),
              case .string(let s) = item.content, UTF16.isTrailSurrogate(s[offset])
        else { return false }
        if offset > 0 { return UTF16.isLeadSurrogate(s[offset - 1]) }
        var p = item.left
        while let l = p, !l.isVisible { p = l.left }
        if let l = p, case .string(let ls) = l.content, let last = ls.last { return UTF16.isLeadSurrogate(last) }
        return false
    }

    // MARK: Reading

    /// The content as a Quill delta: text runs and embeds with attributes.
    public func toDelta() -> [TextDelta] {
        var ops: [TextDelta] = []
        var attrs = OrderedAttrs()
        var str: [UInt16] = []
        func attributeList() -> [(String, YAny)] { attrs.pairs.map { ($0.0, $0.1.value) } }
        func pack() {
            guard !str.isEmpty else { return }
            ops.append(TextDelta(.insert(String(decoding: str, as: UTF16.self)), attributes: attributeList()))
            str.removeAll()
        }
        var n = branch.start
        while let item = n {
            if !item.deleted {
                switch item.content {
                case .string(let s): str.append(contentsOf: s)
                case .embed(let v):
                    pack()
                    ops.append(TextDelta(.insertEmbed(v), attributes: attributeList()))
                case .type(let b):
                    pack()
                    ops.append(TextDelta(.insertEmbed(b.toJSON()), attributes: attributeList()))
                case .format(let key, let value):
                    pack()
                    attrs.apply(key, AttrValue(value, source: ObjectIdentifier(item)))
                default: break
                }
            }
            n = item.right
        }
        pack()
        return ops
    }

    // MARK: Positions

    /// A cursor between two items of the list, with the attributes in effect.
    struct Position {
        var left: Item?
        var right: Item?
        var index: Int
        var attributes: OrderedAttrs

        mutating func forward() {
            guard let r = right else { return }
            if !r.deleted {
                if case .format(let key, let value) = r.content {
                    attributes.apply(key, AttrValue(value, source: ObjectIdentifier(r)))
                } else {
                    index += r.length
                }
            }
            left = r
            right = r.right
        }
    }

    /// The position after the `index`-th unit, as a walk from the start
    /// would find it (Yjs `findPosition`). Without formatting, the sequence
    /// index finds the same place in logarithmic time.
    func findPosition(_ txn: Transaction, _ index: Int) -> Position {
        if !branch.hasFormatting && index > 0, let x = branch.visibleItem(endingAt: index, txn) {
            return Position(left: x, right: x.right, index: index, attributes: OrderedAttrs())
        }
        var pos = Position(left: nil, right: branch.start, index: 0, attributes: OrderedAttrs())
        var count = index
        while let r = pos.right, count > 0 {
            if !r.deleted {
                if case .format(let key, let value) = r.content {
                    pos.attributes.apply(key, AttrValue(value, source: ObjectIdentifier(r)))
                } else {
                    if count < r.length {
                        _ = txn.doc.store.itemCleanStart(txn, ID(client: r.id.client, clock: r.id.clock + count))
                    }
                    pos.index += r.length
                    count -= r.length
                }
            }
            pos.left = r
            pos.right = r.right
        }
        return pos
    }

    // MARK: Editing internals (Yjs 13.6 semantics)

    func insert(_ txn: Transaction, index: Int, text: [UInt16], attributes: [(String, YAny)]?) {
        guard !text.isEmpty else { return }
        let pos = findPosition(txn, index)
        insertContent(txn, pos, .string(text), attributes)
    }

    /// Inserts into text that has never been formatted, without attributes:
    /// Yjs' steps in ``insertContent(_:_:_:_:)`` then reduce to skipping the
    /// deleted items on the right (there are no format markers to keep or
    /// negate). Typing grows the writer's last item straight from `units`.
    private func insertUnformatted(_ txn: Transaction, _ start: Position, _ units: some Collection<UInt16>) {
        guard !units.isEmpty else { return }
        var left = start.left
        var right = start.right
        while let r = right, r.deleted {
            left = r
            right = r.right
        }
        if let l = left, txn.doc.extendLocalString(l, with: units, txn) { return }
        txn.doc.integrate(branch.newItem(txn, left: left, right: right, parentSub: nil, content: .string(Array(units))), txn)
    }

    private func insertContent(_ txn: Transaction, _ start: Position, _ content: ItemContent, _ given: [(String, YAny)]?) {
        if !branch.hasFormatting, start.attributes.isEmpty, given?.isEmpty ?? true, case .string(let units) = content {
            insertUnformatted(txn, start, units)
            return
        }
        var pos = start
        var attributes = OrderedAttrs()
        if let given {
            for (k, v) in given { attributes[k] = AttrValue(v) }
        } else if !pos.attributes.isEmpty {
            for (k, v) in pos.attributes.pairs { attributes[k] = v }
        }
        for key in pos.attributes.keys where attributes[key] == nil { attributes[key] = .null }
        minimizeAttributeChanges(&pos, attributes)
        var negated = insertAttributes(txn, &pos, attributes)
        if negated.isEmpty, case .string(let units) = content, let left = pos.left, left.right === pos.right,
           txn.doc.extendLocalString(left, with: units, txn) {
            return
        }
        let item = branch.newItem(txn, left: pos.left, right: pos.right, parentSub: nil, content: content)
        txn.doc.integrate(item, txn)
        pos.right = item
        pos.forward()
        insertNegatedAttributes(txn, &pos, &negated)
    }

    private func minimizeAttributeChanges(_ pos: inout Position, _ attributes: OrderedAttrs) {
        while let r = pos.right {
            if r.deleted {
                pos.forward()
                continue
            }
            if case .format(let key, let value) = r.content,
               (attributes[key] ?? .null).equalAttrs(AttrValue(value, source: ObjectIdentifier(r))) {
                pos.forward()
                continue
            }
            break
        }
    }

    private func insertAttributes(_ txn: Transaction, _ pos: inout Position, _ attributes: OrderedAttrs) -> OrderedAttrs {
        var negated = OrderedAttrs()
        for (key, val) in attributes.pairs {
            let current = pos.attributes[key] ?? .null
            if !current.equalAttrs(val) {
                negated[key] = current
                let item = branch.newItem(txn, left: pos.left, right: pos.right, parentSub: nil, content: .format(key: key, value: val.value))
                txn.doc.integrate(item, txn)
                pos.right = item
                pos.forward()
            }
        }
        return negated
    }

    private func insertNegatedAttributes(_ txn: Transaction, _ pos: inout Position, _ negated: inout OrderedAttrs) {
        while let r = pos.right {
            if r.deleted {
                pos.forward()
                continue
            }
            if case .format(let key, let value) = r.content, let n = negated[key],
               n.equalAttrs(AttrValue(value, source: ObjectIdentifier(r))) {
                negated[key] = nil
                pos.forward()
                continue
            }
            break
        }
        for (key, val) in negated.pairs {
            let item = branch.newItem(txn, left: pos.left, right: pos.right, parentSub: nil, content: .format(key: key, value: val.value))
            txn.doc.integrate(item, txn)
            pos.right = item
            pos.forward()
        }
    }

    func delete(_ txn: Transaction, index: Int, count: Int) {
        var remaining = count
        if !branch.hasFormatting && !txn.doc.walksToDelete {
            remaining = deleteThroughIndex(txn, index: index, count: count)
            guard remaining > 0 else { return }
        }
        var pos = findPosition(txn, index)
        let startAttrs = pos.attributes
        let start = pos.right
        while remaining > 0, let r = pos.right {
            // Only types, embeds and strings are deleted (formats stay), as in Yjs.
            let ref = r.contentRef
            if !r.deleted && (ref == 7 || ref == 5 || ref == 4) {
                if remaining < r.length {
                    _ = txn.doc.store.itemCleanStart(txn, ID(client: r.id.client, clock: r.id.clock + remaining))
                }
                remaining -= r.length
                txn.doc.deleteItem(r, txn)
            }
            pos.forward()
        }
        if let start, branch.hasFormatting {
            var curr = pos.attributes
            YText.cleanupFormattingGap(txn, start: start, curr: pos.right, startAttributes: startAttrs, currAttributes: &curr)
        }
    }

    /// Deletes without format markers: each visible item is found through
    /// the sequence index instead of by walking from the previous one, since
    /// the tombstones between two visible items of a long-edited text can
    /// number thousands.
    /// The same items are split and deleted, in the same order, as the walk
    /// does. Stops at content a text does not hold (the walk skips it without
    /// counting it) and returns the units left for the walk.
    private func deleteThroughIndex(_ txn: Transaction, index: Int, count: Int) -> Int {
        var remaining = count
        while remaining > 0, let (found, offset) = branch.index.item(containing: index) {
            let ref = found.contentRef
            guard ref == 7 || ref == 5 || ref == 4 else { break }
            var r = found
            let tail = found.length - offset
            if offset > 0 && tail <= remaining && txn.doc.deleteTailJoiningDeletedRight(found, from: offset, txn) {
                remaining -= tail
                continue
            }
            if offset > 0 {
                guard let right = txn.doc.store.itemCleanStart(txn, ID(client: r.id.client, clock: r.id.clock + offset)) else { break }
                r = right
            }
            if remaining < r.length {
                _ = txn.doc.store.itemCleanStart(txn, ID(client: r.id.client, clock: r.id.clock + remaining))
            }
            remaining -= r.length
            txn.doc.deleteItem(r, txn)
        }
        return remaining
    }

    func format(_ txn: Transaction, index: Int, length: Int, attributes given: [(String, YAny)]) {
        var pos = findPosition(txn, index)
        guard pos.right != nil else { return }
        var attributes = OrderedAttrs()
        for (k, v) in given { attributes[k] = AttrValue(v) }
        var remaining = length
        minimizeAttributeChanges(&pos, attributes)
        var negated = insertAttributes(txn, &pos, attributes)
        loop: while let r = pos.right, remaining > 0 || (!negated.isEmpty && (r.deleted || isFormat(r))) {
            if !r.deleted {
                if case .format(let key, let value) = r.content {
                    let v = AttrValue(value, source: ObjectIdentifier(r))
                    if let attr = attributes[key] {
                        if attr.equalAttrs(v) {
                            negated[key] = nil
                        } else {
                            if remaining == 0 { break loop }
                            negated[key] = v
                        }
                        txn.doc.deleteItem(r, txn)
                    } else {
                        pos.attributes[key] = v
                    }
                } else {
                    if remaining < r.length {
                        _ = txn.doc.store.itemCleanStart(txn, ID(client: r.id.client, clock: r.id.clock + remaining))
                    }
                    remaining -= r.length
                }
            }
            pos.forward()
        }
        if remaining > 0 {
            // Quill keeps a trailing newline: formatting past the end inserts newlines.
            let newlines = [UInt16](repeating: 0x0A, count: remaining)
            let item = branch.newItem(txn, left: pos.left, right: pos.right, parentSub: nil, content: .string(newlines))
            txn.doc.integrate(item, txn)
            pos.right = item
            pos.forward()
        }
        insertNegatedAttributes(txn, &pos, &negated)
    }

    private func isFormat(_ item: Item) -> Bool {
        if case .format = item.content { return true }
        return false
    }

    // MARK: Formatting cleanup

    /// Deletes format markers between `start` and the next content item that
    /// are overridden or redundant (Yjs `cleanupFormattingGap`).
    @discardableResult
    static func cleanupFormattingGap(
        _ txn: Transaction, start startItem: Item, curr: Item?, startAttributes: OrderedAttrs, currAttributes: inout OrderedAttrs
    ) -> Int {
        var end: Item? = startItem
        var endFormats: [String: ObjectIdentifier] = [:]
        while let e = end, !e.isCountable || e.deleted {
            if !e.deleted, case .format(let key, _) = e.content { endFormats[key] = ObjectIdentifier(e) }
            end = e.right
        }
        var cleanups = 0
        var reachedCurr = false
        var start: Item? = startItem
        while let s = start, s !== end {
            if curr === s { reachedCurr = true }
            if !s.deleted, case .format(let key, let value) = s.content {
                let v = AttrValue(value, source: ObjectIdentifier(s))
                let startValue = startAttributes[key] ?? .null
                if endFormats[key] != ObjectIdentifier(s) || startValue.identical(v) {
                    txn.doc.deleteItem(s, txn)
                    cleanups += 1
                    if !reachedCurr && (currAttributes[key] ?? .null).identical(v) && !startValue.identical(v) {
                        if case .null = startValue.value { currAttributes[key] = nil } else { currAttributes[key] = startValue }
                    }
                }
                if !reachedCurr && !s.deleted { currAttributes.apply(key, v) }
            }
            start = s.right
        }
        return cleanups
    }

    /// Deletes duplicate format markers in the gap around `item` without
    /// computing the attributes in effect (Yjs `cleanupContextlessFormattingGap`).
    static func cleanupContextlessFormattingGap(_ txn: Transaction, _ item: Item) {
        var it: Item? = item
        while let x = it, let r = x.right, r.deleted || !r.isCountable { it = r }
        var seen = Set<String>()
        while let x = it, x.deleted || !x.isCountable {
            if !x.deleted, case .format(let key, _) = x.content {
                if seen.contains(key) { txn.doc.deleteItem(x, txn) } else { seen.insert(key) }
            }
            it = x.left
        }
    }

    /// Removes every redundant format marker of a text (Yjs `cleanupYTextFormatting`).
    @discardableResult
    static func cleanupFormatting(_ txn: Transaction, _ branch: Branch) -> Int {
        var res = 0
        var start = branch.start
        var end = branch.start
        var startAttributes = OrderedAttrs()
        var current = OrderedAttrs()
        while let e = end {
            if !e.deleted {
                if case .format(let key, let value) = e.content {
                    current.apply(key, AttrValue(value, source: ObjectIdentifier(e)))
                } else if let s = start {
                    res += cleanupFormattingGap(txn, start: s, curr: e, startAttributes: startAttributes, currAttributes: &current)
                    startAttributes = current
                    start = e
                }
            }
            end = e.right
        }
        return res
    }

    /// After a remote transaction touched formatted text, deletes the format
    /// markers it made redundant, in a transaction of our own (Yjs 13.6
    /// `cleanupYTextAfterTransaction`).
    static func cleanupAfterRemoteTransaction(_ txn: Transaction, _ cleanupTxn: Transaction) {
        let doc = txn.doc
        var needFull: [Branch] = []
        func addFull(_ b: Branch) { if !needFull.contains(where: { $0 === b }) { needFull.append(b) } }
        for client in txn.touchedOrder {
            let before = txn.beforeState(client)
            guard doc.store.state(client) != before, let structs = doc.store.list(client) else { continue }
            var i = structs.findIndex(before)
            while i < structs.count {
                let s = structs[i]
                if !s.deleted, !s.isGC, case .format = s.content, let p = s.parent { addFull(p) }
                i += 1
            }
        }
        var deleted: [Item] = []
        for client in txn.deleteSet.clientOrder {
            guard let ranges = txn.deleteSet.clients[client] else { continue }
            for r in ranges {
                guard doc.store.list(client) != nil else { continue }
                _ = doc.store.itemCleanStart(txn, ID(client: client, clock: r.clock))
                if r.clock + r.length < doc.store.state(client) {
                    _ = doc.store.itemCleanStart(txn, ID(client: client, clock: r.clock + r.length))
                }
                guard let structs = doc.store.list(client) else { continue }
                var i = structs.findIndex(r.clock)
                while i < structs.count, structs[i].id.clock < r.clock + r.length {
                    deleted.append(structs[i])
                    i += 1
                }
            }
        }
        for item in deleted {
            guard !item.isGC, let parent = item.parent, parent.hasFormatting, !needFull.contains(where: { $0 === parent }) else { continue }
            if case .format = item.content {
                addFull(parent)
            } else {
                cleanupContextlessFormattingGap(cleanupTxn, item)
            }
        }
        for b in needFull { cleanupFormatting(cleanupTxn, b) }
    }
}
