/// One struct of the document: an item of content placed in a parent type,
/// or a garbage-collected range (`content == .gc`). See spec 2.3.
///
/// Back references (`left`, `parent`) are unowned: the struct store owns
/// every item, and parents own their children through `start`/`right`.
///
/// The stored properties of the engine's classes (this one, `Branch`,
/// `ClientStructs`, `SequenceBlock`, `StructStore`, `Doc`, `Transaction`) are
/// `@exclusivity(unchecked)`: a `Doc` and everything it owns is used by one
/// thread at a time, and no access to one of these properties is held across
/// code that touches the same property, so the dynamic check that would run
/// on every access of the integration and encoding loops guards nothing.
final class Item {
    @exclusivity(unchecked) var id: ID
    @exclusivity(unchecked) var length: Int
    /// The unit left of this item when it was created (immutable, on the wire).
    @inline(__always) var origin: ID? {
        get { originStorage.client < 0 ? nil : originStorage }
        set { originStorage = newValue ?? Self.noID }
    }
    /// The unit right of this item when it was created (immutable, on the wire).
    @inline(__always) var rightOrigin: ID? {
        get { rightOriginStorage.client < 0 ? nil : rightOriginStorage }
        set { rightOriginStorage = newValue ?? Self.noID }
    }
    /// `ID?` takes 24 bytes in an object and a plain `ID` 16; client ids are
    /// never negative (the decoder reads them as var-uints), so -1 means none.
    @exclusivity(unchecked) private var originStorage: ID
    @exclusivity(unchecked) private var rightOriginStorage: ID
    private static let noID = ID(client: -1, clock: 0)
    @exclusivity(unchecked) unowned(unsafe) var left: Item?
    @exclusivity(unchecked) var right: Item?
    @exclusivity(unchecked) unowned(unsafe) var parent: Branch?
    /// The map key when the item is a map entry.
    @exclusivity(unchecked) var parentSub: String?
    /// A plain stored property (no observer), so that merging and splitting
    /// mutate the payload in place; ``replaceContent(_:)`` keeps `flags` right
    /// when the case changes.
    @exclusivity(unchecked) var content: ItemContent
    /// Cached facts about `content`, so that list walks never copy the enum.
    @exclusivity(unchecked) private var flags: UInt8
    /// The content reference number (spec 3.5: 4 string, 5 embed, 7 type, ...),
    /// cached so that checking an item's kind does not copy its content.
    @exclusivity(unchecked) private(set) var contentRef: UInt8
    @exclusivity(unchecked) var deleted: Bool
    /// Never garbage-collect this item.
    @exclusivity(unchecked) var keep = false
    /// The block of its sequence's index (nil for map entries and GC).
    @exclusivity(unchecked) unowned(unsafe) var block: SequenceBlock?

    init(id: ID, left: Item?, origin: ID?, right: Item?, rightOrigin: ID?, parent: Branch?, parentSub: String?, content: ItemContent) {
        self.id = id
        self.left = left
        self.originStorage = origin ?? Self.noID
        self.right = right
        self.rightOriginStorage = rightOrigin ?? Self.noID
        self.parent = parent
        self.parentSub = parentSub
        self.content = content
        self.flags = ItemContent.flags(of: content)
        self.contentRef = content.ref
        self.length = content.length
        self.deleted = false
        if case .deleted = content { deleted = true }
    }

    /// A garbage-collected range.
    init(gc id: ID, length: Int) {
        self.id = id
        self.length = length
        self.originStorage = Self.noID
        self.rightOriginStorage = Self.noID
        self.content = .gc
        self.flags = ItemContent.flags(of: .gc)
        self.contentRef = 0
        self.deleted = true
    }

    /// Replaces the content with one of another kind (garbage collection).
    func replaceContent(_ newContent: ItemContent) {
        content = newContent
        flags = ItemContent.flags(of: newContent)
        contentRef = newContent.ref
    }

    @inline(__always) var isGC: Bool { flags & ItemContent.gcFlag != 0 }

    /// Whether the item takes index positions in its sequence.
    @inline(__always) var isCountable: Bool { flags & ItemContent.countableFlag != 0 }

    /// Whether the item is visible and countable.
    @inline(__always) var isVisible: Bool { !deleted && isCountable }

    /// The ID of the last unit of this item.
    @inline(__always) var lastID: ID { ID(client: id.client, clock: id.clock + length - 1) }

    /// The nested type held by this item, if any.
    var type: Branch? {
        if case .type(let b) = content { return b }
        return nil
    }

    /// The nearest visible left neighbour.
    var previousVisible: Item? {
        var n = left
        while let item = n, item.deleted { n = item.left }
        return n
    }

    /// Reads one field on each cache line ``write(_:offset:)`` reads, and the
    /// start of a string's storage; see ``ClientStructs/forEachUnretained(from:warming:_:)``.
    @inline(__always) func warmForWrite() -> Int {
        var touched = id.clock &+ rightOriginStorage.clock &+ Int(contentRef)
        if contentRef == 4, case .string(let s) = content { touched &+= s.count }
        return touched
    }

    /// Writes the struct from clock offset `offset` (spec 3.2, 3.3, 3.7).
    func write(_ enc: inout Lib0Encoder, offset: Int) {
        if isGC {
            enc.writeUInt8(0)
            enc.writeVarUInt(length - offset)
            return
        }
        let origin = offset > 0 ? ID(client: id.client, clock: id.clock + offset - 1) : self.origin
        let rightOrigin = self.rightOrigin
        var info = contentRef & 0x1F
        if origin != nil { info |= 0x80 }
        if rightOrigin != nil { info |= 0x40 }
        if parentSub != nil { info |= 0x20 }
        let hasOrigin = origin != nil || rightOrigin != nil
        // With an origin no parent is written, so a deleted struct's length
        // follows the origins directly: most structs are then one cursor write.
        var deletedLength: Int?
        if hasOrigin, case .deleted(let n) = content { deletedLength = n - offset }
        enc.withCursor(reserving: 1 + 5 * Lib0Cursor.maxVarUInt) { c in
            c.writeUInt8(info)
            if let o = origin {
                c.writeVarUInt(o.client)
                c.writeVarUInt(o.clock)
            }
            if let r = rightOrigin {
                c.writeVarUInt(r.client)
                c.writeVarUInt(r.clock)
            }
            if let deletedLength { c.writeVarUInt(deletedLength) }
        }
        if deletedLength != nil { return }
        if !hasOrigin {
            if let parent {
                if let parentItem = parent.item {
                    enc.writeVarUInt(0)
                    enc.writeVarUInt(parentItem.id.client)
                    enc.writeVarUInt(parentItem.id.clock)
                } else {
                    enc.writeVarUInt(1)
                    enc.writeVarString(parent.rootName ?? "")
                }
            } else {
                // An item without a parent is never stored; write an empty root name defensively.
                enc.writeVarUInt(1)
                enc.writeVarString("")
            }
            if let parentSub { enc.writeVarString(parentSub) }
        }
        content.write(&enc, offset: offset)
    }
}
