/// Update format v2 (spec 4): the same structs and delete set as v1, with
/// most fields moved into run-length coded columns. Converting keeps the
/// client sections in the order they come, as Yjs' `convertUpdateFormat`
/// does; delete-set clients are written in descending order (Yjs 13.6).

/// Converts a v1 update to v2, byte for byte as Yjs' `convertUpdateFormatV1ToV2`.
/// Throws a typed error with the offset for malformed input.
public func convertUpdateV1ToV2(_ update: [UInt8]) throws(CRDTError) -> [UInt8] {
    let decoded = try DecodedUpdate.decode(update)
    var writer = UpdateV2Writer()
    writer.write(decoded)
    return writer.finished()
}

/// Converts a v2 update to v1, as Yjs' `convertUpdateFormatV2ToV1`. The input
/// is checked as strictly as a v1 update; throws a typed error with the offset.
public func convertUpdateV2ToV1(_ update: [UInt8]) throws(CRDTError) -> [UInt8] {
    try UpdateV2Reader.decode(update).encode(keepingOrder: true)
}

extension Doc {
    /// The document's state (or what `stateVector` lacks) as a v2 update,
    /// as Yjs' `encodeStateAsUpdateV2` writes it.
    public func encodeStateAsUpdateV2(since stateVector: [UInt8]? = nil) throws(CRDTError) -> [UInt8] {
        let decoded = try DecodedUpdate.decode(try encodeStateAsUpdate(since: stateVector))
        var writer = UpdateV2Writer(keepsKeyFlag: true)
        writer.write(decoded)
        return writer.finished()
    }

    /// Applies a v2 update. Malformed input throws a typed error and changes
    /// nothing. The update is checked in full while it is read (offsets are
    /// into the v2 bytes); it is then applied in its v1 form, so an error
    /// raised only while integrating carries an offset into that form.
    public func applyUpdateV2(_ update: [UInt8], origin: (any Sendable)? = nil) throws(CRDTError) {
        try applyUpdate(try convertUpdateV2ToV1(update), origin: origin)
    }
}

/// Writes structs and a delete set into the nine columns and the rest stream.
struct UpdateV2Writer {
    private var keyClock = IntDiffOptRleColumnEncoder()
    private var client = UIntOptRleColumnEncoder()
    private var leftClock = IntDiffOptRleColumnEncoder()
    private var rightClock = IntDiffOptRleColumnEncoder()
    private var info = RleByteColumnEncoder()
    private var strings = StringColumnEncoder()
    private var parentInfo = RleByteColumnEncoder()
    private var typeRef = UIntOptRleColumnEncoder()
    private var length = UIntOptRleColumnEncoder()
    private var rest = Lib0Encoder(capacity: 64)
    /// Yjs' v2 encoder gives every key a fresh number and writes its string each time.
    private var nextKey = 0
    /// Document encoding keeps the map-key flag of items with an origin; conversion drops it.
    private let keepsKeyFlag: Bool

    init(keepsKeyFlag: Bool = false) {
        self.keepsKeyFlag = keepsKeyFlag
    }

    mutating func write(_ update: DecodedUpdate) {
        rest.writeVarUInt(update.clients.count)
        for (section, structs) in update.clients {
            rest.writeVarUInt(structs.count)
            client.write(section)
            rest.writeVarUInt(structs[0].id.clock)
            for s in structs { write(s) }
        }
        writeDeleteSet(update.deleteSet)
    }

    private mutating func writeKey(_ key: String) {
        keyClock.write(nextKey)
        nextKey += 1
        strings.write(key)
    }

    private mutating func write(_ s: WireStruct) {
        switch s.kind {
        case .gc:
            info.write(0)
            length.write(s.length)
        case .skip:
            info.write(10)
            rest.writeVarUInt(s.length)
        case .item:
            let writesParent = s.origin == nil && s.rightOrigin == nil
            var flags = s.content.ref & 0x1F
            if s.origin != nil { flags |= 0x80 }
            if s.rightOrigin != nil { flags |= 0x40 }
            if (s.parentSub != nil && writesParent) || (keepsKeyFlag && s.keyFlagWithoutKey) { flags |= 0x20 }
            info.write(flags)
            if let o = s.origin {
                client.write(o.client)
                leftClock.write(o.clock)
            }
            if let r = s.rightOrigin {
                client.write(r.client)
                rightClock.write(r.clock)
            }
            if writesParent {
                switch s.parent {
                case .id(let p)?:
                    parentInfo.write(0)
                    client.write(p.client)
                    leftClock.write(p.clock)
                case .root(let name)?:
                    parentInfo.write(1)
                    strings.write(name)
                case nil:
                    parentInfo.write(1)
                    strings.write("")
                }
                if let sub = s.parentSub { strings.write(sub) }
            }
            write(s.content)
        }
    }

    private mutating func write(_ content: ItemContent) {
        switch content {
        case .gc: break
        case .deleted(let n): length.write(n)
        case .json(let values):
            length.write(values.count)
            for v in values { strings.write(JSONText.stringify(v)) }
        case .binary(let b): rest.writeVarBytes(b)
        case .string(let units): strings.write(utf16: units[...])
        case .embed(let v): rest.writeAny(v)
        case .format(let key, let value):
            writeKey(key)
            rest.writeAny(value)
        case .type(let branch):
            typeRef.write(branch.kind.typeRef)
            switch branch.kind {
            case .xmlElement(let name), .xmlHook(let name): writeKey(name)
            default: break
            }
        case .any(let values):
            length.write(values.count)
            for v in values { rest.writeAny(v) }
        case .doc(let guid, let options):
            strings.write(guid)
            rest.writeAny(options)
        }
    }

    /// Clocks as differences from the previous range's end, lengths minus one.
    private mutating func writeDeleteSet(_ ds: DeleteSet) {
        let clients = ds.clients.filter { !$0.value.isEmpty }.keys.sorted(by: >)
        rest.writeVarUInt(clients.count)
        for c in clients {
            let ranges = ds.clients[c] ?? []
            rest.writeVarUInt(c)
            rest.writeVarUInt(ranges.count)
            var previous = 0
            for r in ranges {
                rest.writeVarUInt(r.clock - previous)
                rest.writeVarUInt(r.length - 1)
                previous = r.clock + r.length
            }
        }
    }

    func finished() -> [UInt8] {
        var out = Lib0Encoder(capacity: rest.byteCount + 64)
        out.writeVarUInt(0)
        for column in [keyClock.finished(), client.finished(), leftClock.finished(), rightClock.finished(), info.bytes,
                       strings.finished(), parentInfo.bytes, typeRef.finished(), length.finished()] {
            out.writeVarBytes(column)
        }
        out.writeRaw(rest.bytes)
        return out.finish()
    }
}

/// Reads a v2 update into the same form as a decoded v1 update, with the same checks.
struct UpdateV2Reader {
    private var keyClock: IntDiffOptRleColumnDecoder
    private var client: UIntOptRleColumnDecoder
    private var leftClock: IntDiffOptRleColumnDecoder
    private var rightClock: IntDiffOptRleColumnDecoder
    private var info: RleByteColumnDecoder
    private var strings: StringColumnDecoder
    private var parentInfo: RleByteColumnDecoder
    private var typeRef: UIntOptRleColumnDecoder
    private var length: UIntOptRleColumnDecoder
    private var rest: Lib0Decoder
    private var keys: [String] = []

    /// Run-length columns can describe any number of structs in a few bytes;
    /// an update is refused beyond this many structs per input byte, far
    /// above what any encoder produces, so that a tiny input cannot make the
    /// decoder loop or allocate without bound.
    static let maxStructsPerByte = 64

    static func decode(_ bytes: [UInt8]) throws(CRDTError) -> DecodedUpdate {
        var reader = try UpdateV2Reader(bytes)
        return try reader.readUpdate(budget: max(1_024, bytes.count * maxStructsPerByte))
    }

    private init(_ bytes: [UInt8]) throws(CRDTError) {
        var dec = Lib0Decoder(bytes)
        let flag = try dec.readVarUInt()
        guard flag == 0 else { throw CRDTError(.invalidTag, offset: 0, "v2 feature flag \(flag) (only 0 is defined)") }
        func column() throws(CRDTError) -> ArraySlice<UInt8> {
            let start = dec.position
            let n = try dec.readVarUInt()
            guard n <= dec.remaining else { throw CRDTError(.truncated, offset: start, "column of \(n) bytes, \(dec.remaining) left") }
            return try dec.readBytes(n)
        }
        keyClock = IntDiffOptRleColumnDecoder(try column())
        client = UIntOptRleColumnDecoder(try column())
        leftClock = IntDiffOptRleColumnDecoder(try column())
        rightClock = IntDiffOptRleColumnDecoder(try column())
        info = RleByteColumnDecoder(try column())
        strings = try StringColumnDecoder(try column())
        parentInfo = RleByteColumnDecoder(try column())
        typeRef = UIntOptRleColumnDecoder(try column())
        length = UIntOptRleColumnDecoder(try column())
        rest = dec
    }

    private mutating func readUpdate(budget: Int) throws(CRDTError) -> DecodedUpdate {
        var budget = budget
        let numSections = try rest.readCount(minimumBytesEach: 2)
        var sections: [(client: Int, structs: [WireStruct])] = []
        for _ in 0..<numSections {
            let sectionStart = rest.position
            let numStructs = try rest.readVarUInt()
            guard numStructs <= budget else {
                throw CRDTError(.invalidLength, offset: sectionStart, "\(numStructs) structs is more than the input can describe")
            }
            budget -= numStructs
            let section = try client.read()
            guard !sections.contains(where: { $0.client == section }) else {
                throw CRDTError(.invalidStructure, offset: sectionStart, "client \(section) appears twice")
            }
            var clock = try rest.readVarUInt()
            var structs: [WireStruct] = []
            structs.reserveCapacity(min(numStructs, 4_096))
            for _ in 0..<numStructs {
                let start = rest.position
                let s = try readStruct(client: section, clock: clock, start: start)
                try s.checkClockRange(start: start)
                clock += s.length
                structs.append(s)
            }
            if !structs.isEmpty { sections.append((section, structs)) }
        }
        let ds = try readDeleteSet()
        try rest.expectEnd()
        return DecodedUpdate(clients: sections, deleteSet: ds)
    }

    private mutating func readStruct(client section: Int, clock: Int, start: Int) throws(CRDTError) -> WireStruct {
        let flags = try info.read()
        let ref = flags & 0x1F
        let id = ID(client: section, clock: clock)
        switch ref {
        case 0:
            let len = try length.read()
            guard len > 0 else { throw CRDTError(.invalidLength, offset: start, "struct of length 0") }
            return WireStruct(kind: .gc, id: id, length: len, content: .gc)
        case 10:
            let len = try rest.readVarUInt()
            guard len > 0 else { throw CRDTError(.invalidLength, offset: start, "struct of length 0") }
            return WireStruct(kind: .skip, id: id, length: len, content: .gc)
        case 1...9:
            var origin: ID?
            var rightOrigin: ID?
            var parent: WireParent?
            var parentSub: String?
            if flags & 0x80 != 0 { origin = try readID(right: false, start: start) }
            if flags & 0x40 != 0 { rightOrigin = try readID(right: true, start: start) }
            if flags & 0xC0 == 0 {
                if try parentInfo.read() == 1 {
                    parent = .root(try strings.read())
                } else {
                    parent = .id(try readID(right: false, start: start))
                }
                if flags & 0x20 != 0 { parentSub = try strings.read() }
            }
            let content = try readContent(ref: ref, start: start)
            let s = WireStruct(
                kind: .item, id: id, length: content.length, origin: origin, rightOrigin: rightOrigin,
                parent: parent, parentSub: parentSub, content: content)
            try s.checkReferences(start: start)
            return s
        default:
            throw CRDTError(.invalidTag, offset: start, "unknown content reference \(ref)")
        }
    }

    /// A client from the client column and a clock from the left or right
    /// clock column; clocks are differences there, so a negative sum is possible
    /// in forged input.
    private mutating func readID(right: Bool, start: Int) throws(CRDTError) -> ID {
        let c = try client.read()
        let clock = right ? try rightClock.read() : try leftClock.read()
        guard clock >= 0 else { throw CRDTError(.invalidStructure, offset: start, "negative clock \(clock)") }
        return ID(client: c, clock: clock)
    }

    private mutating func readKey() throws(CRDTError) -> String {
        let k = try keyClock.read()
        if k >= 0 && k < keys.count { return keys[k] }
        let key = try strings.read()
        keys.append(key)
        return key
    }

    private mutating func readContent(ref: UInt8, start: Int) throws(CRDTError) -> ItemContent {
        switch ref {
        case 1:
            let n = try length.read()
            guard n > 0 else { throw CRDTError(.invalidLength, offset: start, "deleted content of length 0") }
            return .deleted(n)
        case 2:
            let n = try length.read()
            // Each value is non-empty JSON text from the string column.
            guard n > 0, n <= strings.remainingUnits else { throw CRDTError(.invalidLength, offset: start, "JSON content of \(n) values") }
            var values: [YAny] = []
            values.reserveCapacity(n)
            for _ in 0..<n {
                do { values.append(try JSONText.parse(try strings.read(), allowUndefined: true)) } catch {
                    throw CRDTError(.invalidText, offset: start, "invalid JSON in ContentJSON")
                }
            }
            return .json(values)
        case 3: return .binary(try rest.readVarBytes())
        case 4:
            let s = Array(try strings.readUTF16())
            guard !s.isEmpty else { throw CRDTError(.invalidLength, offset: start, "empty string content") }
            return .string(s)
        case 5: return .embed(try rest.readAny())
        case 6:
            let key = try readKey()
            return .format(key: key, value: try rest.readAny())
        case 7:
            let ref = try typeRef.read()
            let kind = try TypeKind(typeRef: ref, offset: start) { () throws(CRDTError) in try readKey() }
            return .type(Branch(kind: kind))
        case 8:
            let n = try length.read()
            // Each value takes at least one byte of the rest stream.
            guard n > 0, n <= rest.remaining else { throw CRDTError(.invalidLength, offset: start, "Any content of \(n) values") }
            var values: [YAny] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try rest.readAny()) }
            return .any(values)
        default:
            let guid = try strings.read()
            return .doc(guid: guid, options: try rest.readAny())
        }
    }

    private mutating func readDeleteSet() throws(CRDTError) -> DeleteSet {
        var ds = DeleteSet()
        let n = try rest.readCount(minimumBytesEach: 2)
        for _ in 0..<n {
            let c = try rest.readVarUInt()
            let count = try rest.readCount(minimumBytesEach: 2)
            var previous = 0
            for _ in 0..<count {
                let start = rest.position
                let (clock, o1) = previous.addingReportingOverflow(try rest.readVarUInt())
                let (len, o2) = (try rest.readVarUInt()).addingReportingOverflow(1)
                guard !o1, !o2, clock <= Int.max - len else { throw CRDTError(.integerOverflow, offset: start, "delete range overflows") }
                ds.add(client: c, clock: clock, length: len)
                previous = clock + len
            }
        }
        return ds
    }
}

extension Updates {
    /// ``merge(_:)`` for v2 updates: the result is v2.
    public static func mergeV2(_ updates: [[UInt8]]) throws(CRDTError) -> [UInt8] {
        try convertUpdateV1ToV2(try merge(try updates.map { u throws(CRDTError) in try convertUpdateV2ToV1(u) }))
    }

    /// ``diff(_:stateVector:)`` for a v2 update: the result is v2.
    public static func diffV2(_ update: [UInt8], stateVector: [UInt8]) throws(CRDTError) -> [UInt8] {
        try convertUpdateV1ToV2(try diff(try convertUpdateV2ToV1(update), stateVector: stateVector))
    }

    /// ``stateVector(of:)`` for a v2 update.
    public static func stateVector(ofV2 update: [UInt8]) throws(CRDTError) -> [UInt8] {
        try stateVector(of: try convertUpdateV2ToV1(update))
    }
}
