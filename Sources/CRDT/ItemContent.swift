/// The kind of shared type a `ContentType` item holds (spec 3.5, typeRef).
public enum TypeKind: Sendable, Equatable {
    case array, map, text, xmlElement(String), xmlFragment, xmlHook(String), xmlText
    /// A root type that arrived on the wire before the application declared its kind.
    case undetermined

    var typeRef: Int {
        switch self {
        case .array: 0
        case .map: 1
        case .text: 2
        case .xmlElement: 3
        case .xmlFragment: 4
        case .xmlHook: 5
        case .xmlText: 6
        case .undetermined: 0
        }
    }

    /// The kind a type reference names (spec 3.5); XML elements and hooks
    /// read their name with `name`, from wherever the format keeps it.
    init(typeRef: Int, offset: Int, name: () throws(CRDTError) -> String) throws(CRDTError) {
        switch typeRef {
        case 0: self = .array
        case 1: self = .map
        case 2: self = .text
        case 3: self = .xmlElement(try name())
        case 4: self = .xmlFragment
        case 5: self = .xmlHook(try name())
        case 6: self = .xmlText
        default: throw CRDTError(.invalidTag, offset: offset, "unknown type reference \(typeRef)")
        }
    }
}

/// What an item carries (spec 2.4 / 3.5). `gc` marks a garbage-collected
/// struct, which only occupies clock space.
enum ItemContent {
    case gc
    case deleted(Int)
    case json([YAny])
    case binary([UInt8])
    case string([UInt16])
    // Rare kinds are boxed so that the enum stays one word plus a tag:
    // every item stores one, and a text document holds tens of thousands.
    indirect case embed(YAny)
    indirect case format(key: String, value: YAny)
    case type(Branch)
    case any([YAny])
    indirect case doc(guid: String, options: YAny)

    /// The content reference number written in the info byte.
    var ref: UInt8 {
        switch self {
        case .gc: 0
        case .deleted: 1
        case .json: 2
        case .binary: 3
        case .string: 4
        case .embed: 5
        case .format: 6
        case .type: 7
        case .any: 8
        case .doc: 9
        }
    }

    /// Number of clock units.
    var length: Int {
        switch self {
        case .gc: 0
        case .deleted(let n): n
        case .json(let v): v.count
        case .string(let s): s.count
        case .any(let v): v.count
        case .binary, .embed, .format, .type, .doc: 1
        }
    }

    static let countableFlag: UInt8 = 1
    static let gcFlag: UInt8 = 2

    static func flags(of content: ItemContent) -> UInt8 {
        switch content {
        case .gc: return gcFlag
        case .deleted, .format: return 0
        default: return countableFlag
        }
    }

    /// Whether the content takes index positions in a sequence.
    var isCountable: Bool {
        switch self {
        case .gc, .deleted, .format: false
        default: true
        }
    }

    /// Splits off and returns the content after `offset`, keeping the head.
    /// A surrogate pair cut in two becomes U+FFFD on both sides, as in Yjs.
    mutating func splice(_ offset: Int) -> ItemContent {
        // Each case first moves the payload out of `self`, so that the head
        // is uniquely referenced and truncated in place instead of copied.
        switch ref {
        case 1:
            guard case .deleted(let n) = self else { return self }
            self = .deleted(offset)
            return .deleted(n - offset)
        case 2:
            guard case .json(var v) = self else { return self }
            self = .gc
            let tail = Array(v[offset...])
            v.removeSubrange(offset...)
            self = .json(v)
            return .json(tail)
        case 8:
            guard case .any(var v) = self else { return self }
            self = .gc
            let tail = Array(v[offset...])
            v.removeSubrange(offset...)
            self = .any(v)
            return .any(tail)
        case 4:
            guard case .string(var s) = self else { return self }
            self = .gc
            var tail = Array(s[offset...])
            s.removeSubrange(offset...)
            if let last = s.last, UTF16.isLeadSurrogate(last) {
                s[s.count - 1] = 0xFFFD
                tail[0] = 0xFFFD
            }
            self = .string(s)
            return .string(tail)
        default:
            return self
        }
    }

    /// Drops string content from `offset` on, leaving what ``splice(_:)``
    /// would leave, without building the tail; false for other kinds.
    mutating func truncateString(_ offset: Int) -> Bool {
        guard case .string(var s) = self else { return false }
        self = .gc
        s.removeSubrange(offset...)
        if let last = s.last, UTF16.isLeadSurrogate(last) { s[s.count - 1] = 0xFFFD }
        self = .string(s)
        return true
    }

    /// Appends UTF-16 units to string content in place; false for other kinds.
    mutating func appendUnits(_ units: some Collection<UInt16>) -> Bool {
        guard case .string(var a) = self else { return false }
        self = .gc
        a.append(contentsOf: units)
        self = .string(a)
        return true
    }

    /// Appends `other` when both are the same mergeable kind. Written so the
    /// left array is uniquely referenced when appended to (no copy).
    mutating func merge(with other: ItemContent) -> Bool {
        switch self {
        case .deleted(let a):
            guard case .deleted(let b) = other else { return false }
            self = .deleted(a + b)
            return true
        case .string:
            guard case .string(let b) = other, case .string(var a) = self else { return false }
            self = .gc
            a.append(contentsOf: b)
            self = .string(a)
            return true
        case .any:
            guard case .any(let b) = other, case .any(var a) = self else { return false }
            self = .gc
            a.append(contentsOf: b)
            self = .any(a)
            return true
        case .json:
            guard case .json(let b) = other, case .json(var a) = self else { return false }
            self = .gc
            a.append(contentsOf: b)
            self = .json(a)
            return true
        default:
            return false
        }
    }

    /// The values this content contributes to `toJSON` of a sequence.
    func values() -> [YAny] {
        switch self {
        case .any(let v), .json(let v): return v
        case .binary(let b): return [.bytes(b)]
        case .string(let s): return [.string(String(decoding: s, as: UTF16.self))]
        case .embed(let v): return [v]
        case .doc(let guid, _): return [.object([("$doc", .string(guid))])]
        case .type(let b): return [b.toJSON()]
        case .gc, .deleted, .format: return []
        }
    }

    /// Writes the content payload from clock offset `offset` (spec 3.5, 3.7).
    func write(_ enc: inout Lib0Encoder, offset: Int) {
        switch self {
        case .gc: break
        case .deleted(let n): enc.writeVarUInt(n - offset)
        case .json(let v):
            enc.writeVarUInt(v.count - offset)
            for value in v[offset...] { enc.writeVarString(JSONText.stringify(value)) }
        case .binary(let b): enc.writeVarBytes(b)
        case .string(let s): enc.writeVarString(utf16: s[offset...])
        case .embed(let v): enc.writeVarString(JSONText.stringify(v))
        case .format(let key, let value):
            enc.writeVarString(key)
            enc.writeVarString(JSONText.stringify(value))
        case .type(let branch):
            enc.writeVarUInt(branch.kind.typeRef)
            switch branch.kind {
            case .xmlElement(let name), .xmlHook(let name): enc.writeVarString(name)
            default: break
            }
        case .any(let v):
            enc.writeVarUInt(v.count - offset)
            for value in v[offset...] { enc.writeAny(value) }
        case .doc(let guid, let options):
            enc.writeVarString(guid)
            enc.writeAny(options)
        }
    }

    /// Reads a content payload for content reference `ref` (1...9).
    static func read(_ dec: inout Lib0Decoder, ref: UInt8) throws(CRDTError) -> ItemContent {
        let start = dec.position
        switch ref {
        case 1:
            let n = try dec.readVarUInt()
            guard n > 0 else { throw CRDTError(.invalidLength, offset: start, "deleted content of length 0") }
            return .deleted(n)
        case 2:
            let n = try dec.readCount(minimumBytesEach: 1)
            guard n > 0 else { throw CRDTError(.invalidLength, offset: start, "empty JSON content") }
            var values: [YAny] = []
            values.reserveCapacity(n)
            for _ in 0..<n {
                let textStart = dec.position
                let text = try dec.readVarString()
                do {
                    values.append(try JSONText.parse(text, allowUndefined: true))
                } catch {
                    throw CRDTError(.invalidText, offset: textStart, "invalid JSON in ContentJSON")
                }
            }
            return .json(values)
        case 3: return .binary(try dec.readVarBytes())
        case 4:
            let s = try dec.readVarStringUTF16()
            guard !s.isEmpty else { throw CRDTError(.invalidLength, offset: start, "empty string content") }
            return .string(s)
        case 5:
            let textStart = dec.position
            let text = try dec.readVarString()
            do { return .embed(try JSONText.parse(text)) } catch {
                throw CRDTError(.invalidText, offset: textStart, "invalid JSON in embed")
            }
        case 6:
            let key = try dec.readVarString()
            let textStart = dec.position
            let text = try dec.readVarString()
            do { return .format(key: key, value: try JSONText.parse(text)) } catch {
                throw CRDTError(.invalidText, offset: textStart, "invalid JSON in format value")
            }
        case 7:
            let typeRef = try dec.readVarUInt()
            let kind = try TypeKind(typeRef: typeRef, offset: start) { () throws(CRDTError) in try dec.readVarString() }
            return .type(Branch(kind: kind))
        case 8:
            let n = try dec.readCount(minimumBytesEach: 1)
            guard n > 0 else { throw CRDTError(.invalidLength, offset: start, "empty Any content") }
            var values: [YAny] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try dec.readAny()) }
            return .any(values)
        case 9:
            let guid = try dec.readVarString()
            return .doc(guid: guid, options: try dec.readAny())
        default:
            throw CRDTError(.invalidTag, offset: start, "unknown content reference \(ref)")
        }
    }
}
