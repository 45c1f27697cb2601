/// Where a struct on the wire says its parent is (spec 3.3). Absent when the
/// struct has an origin, because then the parent is copied from a neighbour.
enum WireParent {
    case root(String)
    case id(ID)
}

/// A struct as decoded from an update, before integration (spec 3.9).
struct WireStruct {
    enum Kind: UInt8 { case item, gc, skip }
    var kind: Kind
    var id: ID
    var length: Int
    var origin: ID?
    var rightOrigin: ID?
    var parent: WireParent?
    var parentSub: String?
    var content: ItemContent
    /// Whether the info byte carried the map-key flag (0x20) although the key
    /// was not written (the item has an origin). Yjs sets it when it encodes
    /// a document and drops it when it converts an update.
    var keyFlagWithoutKey = false

    var endClock: Int { id.clock + length }

    /// Writes the struct from clock offset `offset` (spec 3.7).
    func write(_ enc: inout Lib0Encoder, offset: Int) {
        switch kind {
        case .gc:
            enc.writeUInt8(0)
            enc.writeVarUInt(length - offset)
        case .skip:
            enc.writeUInt8(10)
            enc.writeVarUInt(length - offset)
        case .item:
            let origin = offset > 0 ? ID(client: id.client, clock: id.clock + offset - 1) : self.origin
            var info = content.ref & 0x1F
            if origin != nil { info |= 0x80 }
            if rightOrigin != nil { info |= 0x40 }
            let writesParent = origin == nil && rightOrigin == nil
            if parentSub != nil && writesParent { info |= 0x20 }
            enc.writeUInt8(info)
            if let o = origin {
                enc.writeVarUInt(o.client)
                enc.writeVarUInt(o.clock)
            }
            if let r = rightOrigin {
                enc.writeVarUInt(r.client)
                enc.writeVarUInt(r.clock)
            }
            if writesParent {
                switch parent {
                case .root(let name)?:
                    enc.writeVarUInt(1)
                    enc.writeVarString(name)
                case .id(let pid)?:
                    enc.writeVarUInt(0)
                    enc.writeVarUInt(pid.client)
                    enc.writeVarUInt(pid.clock)
                case nil:
                    enc.writeVarUInt(1)
                    enc.writeVarString("")
                }
                if let parentSub { enc.writeVarString(parentSub) }
            }
            content.write(&enc, offset: offset)
        }
    }

    /// A struct can only depend on earlier clocks of its own client.
    func checkReferences(start: Int) throws(CRDTError) {
        if let d = origin, d.client == id.client, d.clock >= id.clock {
            throw CRDTError(.invalidStructure, offset: start, "struct \(id) refers to its own or a later clock")
        }
        if let d = rightOrigin, d.client == id.client, d.clock >= id.clock {
            throw CRDTError(.invalidStructure, offset: start, "struct \(id) refers to its own or a later clock")
        }
        if case .id(let p)? = parent, p.client == id.client, p.clock >= id.clock {
            throw CRDTError(.invalidStructure, offset: start, "struct \(id) has a later parent")
        }
    }

    /// The clock after the struct must stay representable.
    func checkClockRange(start: Int) throws(CRDTError) {
        guard id.clock <= Int.max - length - 1 else {
            throw CRDTError(.integerOverflow, offset: start, "clock overflows")
        }
    }

    /// The struct with its first `offset` units cut off.
    func sliced(from offset: Int) -> WireStruct {
        guard offset > 0 else { return self }
        var s = self
        s.id.clock += offset
        s.length -= offset
        if kind == .item {
            s.origin = ID(client: id.client, clock: id.clock + offset - 1)
            var c = content
            s.content = c.splice(offset)
        }
        return s
    }
}

/// A fully decoded v1 update: structs grouped per client (in the order the
/// update lists them, clocks ascending) and its delete set.
struct DecodedUpdate {
    var clients: [(client: Int, structs: [WireStruct])]
    var deleteSet: DeleteSet

    var isEmpty: Bool { clients.isEmpty && deleteSet.isEmpty }

    /// Decodes and validates a whole v1 update. Nothing about the input is
    /// trusted: every length is checked against the remaining bytes, clocks
    /// must not overflow, and a struct may only refer to earlier clocks of
    /// its own client.
    static func decode(_ bytes: [UInt8]) throws(CRDTError) -> DecodedUpdate {
        var dec = Lib0Decoder(bytes)
        let numClients = try dec.readCount(minimumBytesEach: 3)
        var clients: [(client: Int, structs: [WireStruct])] = []
        clients.reserveCapacity(numClients)
        var seen = Set<Int>()
        for _ in 0..<numClients {
            let sectionStart = dec.position
            let numStructs = try dec.readCount(minimumBytesEach: 2)
            let client = try dec.readVarUInt()
            // Most updates carry one client; hashing for them cost more than a scan.
            let duplicate = numClients <= 16 ? clients.contains { $0.client == client } : !seen.insert(client).inserted
            guard !duplicate else {
                throw CRDTError(.invalidStructure, offset: sectionStart, "client \(client) appears twice")
            }
            var clock = try dec.readVarUInt()
            var structs: [WireStruct] = []
            structs.reserveCapacity(numStructs)
            for _ in 0..<numStructs {
                let start = dec.position
                let info = try dec.readUInt8()
                let ref = info & 0x1F
                let s: WireStruct
                switch ref {
                case 0, 10:
                    let len = try dec.readVarUInt()
                    guard len > 0 else { throw CRDTError(.invalidLength, offset: start, "struct of length 0") }
                    s = WireStruct(kind: ref == 0 ? .gc : .skip, id: ID(client: client, clock: clock), length: len, content: .gc)
                case 1...9:
                    var origin: ID?
                    var rightOrigin: ID?
                    var parent: WireParent?
                    var parentSub: String?
                    if info & 0x80 != 0 { origin = ID(client: try dec.readVarUInt(), clock: try dec.readVarUInt()) }
                    if info & 0x40 != 0 { rightOrigin = ID(client: try dec.readVarUInt(), clock: try dec.readVarUInt()) }
                    if info & 0xC0 == 0 {
                        let parentInfo = try dec.readVarUInt()
                        if parentInfo == 1 {
                            parent = .root(try dec.readVarString())
                        } else if parentInfo == 0 {
                            parent = .id(ID(client: try dec.readVarUInt(), clock: try dec.readVarUInt()))
                        } else {
                            throw CRDTError(.invalidTag, offset: start, "parent info \(parentInfo)")
                        }
                        if info & 0x20 != 0 { parentSub = try dec.readVarString() }
                    }
                    let content = try ItemContent.read(&dec, ref: ref)
                    s = WireStruct(
                        kind: .item, id: ID(client: client, clock: clock), length: content.length, origin: origin,
                        rightOrigin: rightOrigin, parent: parent, parentSub: parentSub, content: content,
                        keyFlagWithoutKey: info & 0xE0 > 0x20 && info & 0x20 != 0)
                    try s.checkReferences(start: start)
                default:
                    throw CRDTError(.invalidTag, offset: start, "unknown content reference \(ref)")
                }
                try s.checkClockRange(start: start)
                clock += s.length
                structs.append(s)
            }
            if !structs.isEmpty { clients.append((client, structs)) }
        }
        let ds = try DeleteSet.read(&dec)
        try dec.expectEnd()
        return DecodedUpdate(clients: clients, deleteSet: ds)
    }

    /// Encodes structs and the delete set: client sections in descending
    /// client order and delete ranges merged, or, with `keepingOrder`, both
    /// as they are (what Yjs' format converters write).
    func encode(keepingOrder: Bool = false) -> [UInt8] {
        var enc = Lib0Encoder(capacity: 256)
        let nonEmpty = clients.filter { !$0.structs.isEmpty }
        let sections = keepingOrder ? nonEmpty : nonEmpty.sorted { $0.client > $1.client }
        enc.writeVarUInt(sections.count)
        for (client, structs) in sections {
            enc.writeVarUInt(structs.count)
            enc.writeVarUInt(client)
            enc.writeVarUInt(structs[0].id.clock)
            for s in structs { s.write(&enc, offset: 0) }
        }
        var ds = deleteSet
        if !keepingOrder { ds.sortAndMerge() }
        ds.write(&enc)
        return enc.finish()
    }
}

/// Decodes a state vector (spec 5.1) into client → clock.
public func decodeStateVector(_ bytes: [UInt8]) throws(CRDTError) -> [Int: Int] {
    var dec = Lib0Decoder(bytes)
    let n = try dec.readCount(minimumBytesEach: 2)
    var sv: [Int: Int] = [:]
    sv.reserveCapacity(n)
    for _ in 0..<n {
        let client = try dec.readVarUInt()
        sv[client] = try dec.readVarUInt()
    }
    try dec.expectEnd()
    return sv
}

/// Encodes a state vector, clients in descending order (Yjs' order).
public func encodeStateVector(_ sv: [Int: Int]) -> [UInt8] {
    var enc = Lib0Encoder(capacity: 8 + sv.count * 6)
    enc.writeVarUInt(sv.count)
    for client in sv.keys.sorted(by: >) {
        enc.writeVarUInt(client)
        enc.writeVarUInt(sv[client] ?? 0)
    }
    return enc.finish()
}
