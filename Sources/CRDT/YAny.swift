/// A self-describing JSON-like value, as stored in YArray elements, YMap
/// values and Yjs `ContentAny` (spec 1.7).
///
/// Numbers: `.integer` comes from the integer tag (125) and `.number` is a
/// JavaScript-like double. They compare by value, and both are written with
/// the Yjs rules so that our bytes equal Yjs' bytes for the same values.
public enum YAny: Sendable, CustomStringConvertible {
    case undefined
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case bigint(Int64)
    case string(String)
    case bytes([UInt8])
    case array([YAny])
    /// Key/value pairs in encoding order (the order carries no meaning).
    case object([(String, YAny)])

    /// The numeric value of `.integer` and `.number`, otherwise nil.
    public var doubleValue: Double? {
        switch self {
        case .integer(let v): return Double(v)
        case .number(let v): return v
        default: return nil
        }
    }

    /// The string of `.string`, otherwise nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Looks up a key of an `.object`.
    public subscript(key: String) -> YAny? {
        if case .object(let pairs) = self {
            for (k, v) in pairs where k == key { return v }
        }
        return nil
    }

    /// `JSON.stringify` text of the value.
    public var description: String { JSONText.stringify(self) }
}

extension YAny: Equatable {
    /// JSON-like equality: numbers by value, objects regardless of key order.
    public static func == (lhs: YAny, rhs: YAny) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.bigint(let a), .bigint(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (k, v) in a {
                guard let other = rhs[k], other == v else { return false }
            }
            return true
        default:
            if let a = lhs.doubleValue, let b = rhs.doubleValue { return a == b }
            return false
        }
    }
}

extension YAny: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: YAny...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, YAny)...) { self = .object(elements) }
}

// MARK: - Binary encoding (lib0 writeAny / readAny)

extension Lib0Encoder {
    /// Writes a value with lib0's `writeAny`, following Yjs' number rules.
    public mutating func writeAny(_ value: YAny) {
        switch value {
        case .undefined: writeUInt8(127)
        case .null: writeUInt8(126)
        case .bool(let b): writeUInt8(b ? 120 : 121)
        case .integer(let v):
            if v.magnitude <= 0x7FFF_FFFF {
                writeUInt8(125)
                writeVarInt(v)
            } else {
                writeNumber(Double(v))
            }
        case .number(let d): writeNumber(d)
        case .bigint(let v):
            writeUInt8(122)
            writeBigInt64(v)
        case .string(let s):
            writeUInt8(119)
            writeVarString(s)
        case .bytes(let b):
            writeUInt8(116)
            writeVarBytes(b)
        case .array(let items):
            writeUInt8(117)
            writeVarUInt(items.count)
            for item in items { writeAny(item) }
        case .object(let pairs):
            writeUInt8(118)
            writeVarUInt(pairs.count)
            for (k, v) in pairs {
                writeVarString(k)
                writeAny(v)
            }
        }
    }

    /// JavaScript numbers: 31-bit integers as var-int, float32 when exact, else float64.
    private mutating func writeNumber(_ d: Double) {
        if d.rounded(.towardZero) == d && d.magnitude <= 2_147_483_647 {
            writeUInt8(125)
            writeVarInt(Int64(d), negativeZero: d == 0 && d.sign == .minus)
        } else if d.isNaN {
            writeUInt8(123)
            writeFloat64(d)
        } else if Double(Float(d)) == d {
            writeUInt8(124)
            writeFloat32(Float(d))
        } else {
            writeUInt8(123)
            writeFloat64(d)
        }
    }
}

extension Lib0Decoder {
    /// Maximum nesting of arrays and objects accepted in one value.
    static let maxAnyDepth = 256

    /// Reads a value written with lib0's `writeAny`.
    public mutating func readAny() throws(CRDTError) -> YAny {
        try readAny(depth: 0)
    }

    private mutating func readAny(depth: Int) throws(CRDTError) -> YAny {
        let start = position
        guard depth < Self.maxAnyDepth else { throw CRDTError(.invalidStructure, offset: start, "value nested too deeply") }
        let tag = try readUInt8()
        switch tag {
        case 127: return .undefined
        case 126: return .null
        case 125:
            let (v, negZero) = try readVarIntWithSign()
            return negZero ? .number(-0.0) : .integer(v)
        case 124: return .number(Double(try readFloat32()))
        case 123: return .number(try readFloat64())
        case 122: return .bigint(try readBigInt64())
        case 121: return .bool(false)
        case 120: return .bool(true)
        case 119: return .string(try readVarString())
        case 118:
            let n = try readCount(minimumBytesEach: 2)
            var pairs: [(String, YAny)] = []
            pairs.reserveCapacity(n)
            for _ in 0..<n {
                let k = try readVarString()
                pairs.append((k, try readAny(depth: depth + 1)))
            }
            return .object(pairs)
        case 117:
            let n = try readCount(minimumBytesEach: 1)
            var items: [YAny] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try readAny(depth: depth + 1)) }
            return .array(items)
        case 116: return .bytes(try readVarBytes())
        default:
            throw CRDTError(.invalidTag, offset: start, "unknown Any tag \(tag)")
        }
    }
}
