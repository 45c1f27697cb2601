public import CRDT

/// The canonical output form of scenario values (scenario-format.md section 9).
public enum ScenarioJSON {
    /// Sorted keys; bytes, bigints and undefined tagged as `yjs-runner.mjs` tags them.
    public static func canonical(_ v: YAny) -> YAny { ScenarioValues.canonical(v) }
}

/// Conversions between scenario JSON (scenario-format.md section 6) and
/// CRDT inputs, and the canonical output form of section 9.
enum ScenarioValues {
    /// JavaScript's default sort: by UTF-16 code units.
    static func jsLess(_ a: String, _ b: String) -> Bool {
        a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    /// Keys JavaScript would move to the front of an object.
    static func isIndexKey(_ k: String) -> Bool {
        guard !k.isEmpty, k.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        if k.count > 1 && k.hasPrefix("0") { return false }
        guard let v = Double(k) else { return false }
        return v < 4_294_967_295
    }

    /// A plain JSON value with keys sorted (section 6.1).
    static func plain(_ v: YAny, _ at: String) throws(ScenarioError) -> YAny {
        switch v {
        case .array(let items):
            var out: [YAny] = []
            for (i, x) in items.enumerated() { out.append(try plain(x, "\(at)[\(i)]")) }
            return .array(out)
        case .object(let pairs):
            var out: [(String, YAny)] = []
            for (k, x) in pairs.sorted(by: { jsLess($0.0, $1.0) }) {
                if k == "$type" { throw .invalid("\(at): a nested type ({\"$type\": ...}) cannot appear inside a JSON value") }
                if isIndexKey(k) { throw .invalid("\(at): object key \"\(k)\" looks like an array index (not allowed)") }
                out.append((k, try plain(x, "\(at).\(k)")))
            }
            return .object(out)
        default:
            return v
        }
    }

    /// A value for map.set / array.insert: JSON or a nested type marker (6.2).
    static func input(_ v: YAny, _ at: String) throws(ScenarioError) -> YInput {
        guard case .object(let pairs) = v, pairs.contains(where: { $0.0 == "$type" }) else {
            return .value(try plain(v, at))
        }
        for (k, _) in pairs where k != "$type" && k != "init" { throw .invalid("\(at): unknown field \"\(k)\"") }
        let initValue = v["init"]
        switch v["$type"] {
        case .string("text")?:
            guard let i = initValue else { return .text("") }
            guard case .string(let s) = i else { throw .invalid("\(at).init: must be a string") }
            return .text(s)
        case .string("array")?:
            guard let i = initValue else { return .array([]) }
            guard case .array(let items) = i else { throw .invalid("\(at).init: must be an array") }
            var out: [YInput] = []
            for (n, x) in items.enumerated() { out.append(try input(x, "\(at).init[\(n)]")) }
            return .array(out)
        case .string("map")?:
            guard let i = initValue else { return .map([]) }
            guard case .object(let entries) = i else { throw .invalid("\(at).init: must be an object") }
            var out: [(String, YInput)] = []
            for (k, x) in entries.sorted(by: { jsLess($0.0, $1.0) }) { out.append((k, try input(x, "\(at).init.\(k)"))) }
            return .map(out)
        default:
            throw .invalid("\(at): unknown $type (text, map or array)")
        }
    }

    /// Canonical output value: sorted keys, tagged non-JSON values.
    static func canonical(_ v: YAny) -> YAny {
        switch v {
        case .undefined: return .object([("$undefined", .bool(true))])
        case .bigint(let b): return .object([("$bigint", .string(String(b)))])
        case .bytes(let b): return .object([("$bytes", .string(hex(b)))])
        case .array(let items): return .array(items.map(canonical))
        case .object(let pairs): return .object(pairs.sorted { jsLess($0.0, $1.0) }.map { ($0.0, canonical($0.1)) })
        default: return v
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(bytes.count * 2)
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0xF)])
        }
        return s
    }

    static func unhex(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
