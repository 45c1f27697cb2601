/// JSON text in the exact form JavaScript's `JSON.stringify` prints it, and a
/// strict parser. Yjs stores format values, embeds and legacy JSON content as
/// JSON text, so byte-identical updates need byte-identical JSON.
public enum JSONText {
    /// `JSON.stringify(value)`. `undefined` prints as `undefined` at the top
    /// level (Yjs' ContentJSON convention), is dropped from objects and is
    /// `null` inside arrays. Bytes print as an object of indexes, as JavaScript
    /// does for a Uint8Array; bigints print as decimal digits.
    public static func stringify(_ value: YAny) -> String {
        var out = ""
        write(value, into: &out, topLevel: true)
        return out
    }

    private static func write(_ value: YAny, into out: inout String, topLevel: Bool = false) {
        switch value {
        case .undefined: out += topLevel ? "undefined" : "null"
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let v): out += String(v)
        case .number(let d): out += d.isFinite ? formatNumber(d) : "null"
        case .bigint(let v): out += String(v)
        case .string(let s): writeString(s, into: &out)
        case .bytes(let b):
            out += "{"
            for (i, byte) in b.enumerated() {
                if i > 0 { out += "," }
                out += "\"\(i)\":\(byte)"
            }
            out += "}"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            var first = true
            for (k, v) in pairs {
                if case .undefined = v { continue }
                if !first { out += "," }
                first = false
                writeString(k, into: &out)
                out += ":"
                write(v, into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// ECMAScript `Number::toString` for a finite double.
    public static func formatNumber(_ d: Double) -> String {
        if d == 0 { return "0" }
        if d.rounded(.towardZero) == d && d.magnitude < 1e21 {
            if d.magnitude < 9.007199254740992e15 { return String(Int64(d)) }
        }
        // Swift prints the shortest round-trip digits; re-layout them as JavaScript does.
        let text = d.magnitude.description
        var digits = ""
        var exponent = 0
        var pointSeen = false
        var digitsBeforePoint = 0
        var idx = text.startIndex
        while idx < text.endIndex {
            let c = text[idx]
            if c == "e" || c == "E" {
                exponent = Int(text[text.index(after: idx)...]) ?? 0
                break
            } else if c == "." {
                pointSeen = true
            } else {
                digits.append(c)
                if !pointSeen { digitsBeforePoint += 1 }
            }
            idx = text.index(after: idx)
        }
        // Strip leading zeros (adjusting the point) and trailing zeros.
        var n = digitsBeforePoint + exponent
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        let k = digits.count
        var result = d < 0 ? "-" : ""
        if k <= n && n <= 21 {
            result += digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            let split = digits.index(digits.startIndex, offsetBy: n)
            result += digits[..<split] + "." + digits[split...]
        } else if -6 < n && n <= 0 {
            result += "0." + String(repeating: "0", count: -n) + digits
        } else {
            let e = n - 1
            let first = digits.prefix(1)
            let rest = digits.dropFirst()
            result += first + (rest.isEmpty ? "" : "." + rest) + "e" + (e >= 0 ? "+" : "-") + String(abs(e))
        }
        return result
    }

    /// Parses JSON text. Numbers become `.number`; the text `undefined` is
    /// accepted at the top level (Yjs' ContentJSON convention) when
    /// `allowUndefined` is set. Lone surrogate escapes are rejected.
    public static func parse(_ text: String, allowUndefined: Bool = false) throws(CRDTError) -> YAny {
        if allowUndefined && text == "undefined" { return .undefined }
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == parser.bytes.count else { throw parser.error("unexpected trailing characters") }
        return value
    }

    /// Parses JSON from UTF-8 bytes.
    public static func parse(bytes: [UInt8]) throws(CRDTError) -> YAny {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == parser.bytes.count else { throw parser.error("unexpected trailing characters") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var pos = 0

        func error(_ message: String) -> CRDTError { CRDTError(.invalidText, offset: pos, "JSON: " + message) }

        mutating func skipWhitespace() {
            while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
                pos += 1
            }
        }

        mutating func expect(_ literal: String, _ value: YAny) throws(CRDTError) -> YAny {
            let lit = Array(literal.utf8)
            guard pos + lit.count <= bytes.count, Array(bytes[pos..<(pos + lit.count)]) == lit else {
                throw error("invalid literal")
            }
            pos += lit.count
            return value
        }

        mutating func parseValue(depth: Int) throws(CRDTError) -> YAny {
            guard depth < 512 else { throw error("nested too deeply") }
            guard pos < bytes.count else { throw error("unexpected end") }
            switch bytes[pos] {
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "["):
                pos += 1
                var items: [YAny] = []
                skipWhitespace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                while true {
                    skipWhitespace()
                    items.append(try parseValue(depth: depth + 1))
                    skipWhitespace()
                    guard pos < bytes.count else { throw error("unterminated array") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw error("expected , or ]")
                }
            case UInt8(ascii: "{"):
                pos += 1
                var pairs: [(String, YAny)] = []
                skipWhitespace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                while true {
                    skipWhitespace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected key") }
                    let key = try parseString()
                    skipWhitespace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected :") }
                    pos += 1
                    skipWhitespace()
                    let value = try parseValue(depth: depth + 1)
                    if let i = pairs.firstIndex(where: { $0.0 == key }) {
                        pairs[i].1 = value
                    } else {
                        pairs.append((key, value))
                    }
                    skipWhitespace()
                    guard pos < bytes.count else { throw error("unterminated object") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(pairs) }
                    throw error("expected , or }")
                }
            default:
                return try parseNumber()
            }
        }

        mutating func parseNumber() throws(CRDTError) -> YAny {
            let start = pos
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            var sawDigit = false
            while pos < bytes.count {
                let c = bytes[pos]
                if (c >= 0x30 && c <= 0x39) { sawDigit = true; pos += 1 }
                else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { pos += 1 }
                else { break }
            }
            guard sawDigit, let text = String(validating: bytes[start..<pos], as: UTF8.self), let d = Double(text), d.isFinite else {
                pos = start
                throw error("invalid number")
            }
            return .number(d)
        }

        mutating func parseHex4() throws(CRDTError) -> UInt16 {
            guard pos + 4 <= bytes.count else { throw error("truncated escape") }
            var v: UInt16 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt16
                switch c {
                case 0x30...0x39: d = UInt16(c - 0x30)
                case 0x41...0x46: d = UInt16(c - 0x41 + 10)
                case 0x61...0x66: d = UInt16(c - 0x61 + 10)
                default: throw error("invalid escape")
                }
                v = v * 16 + d
                pos += 1
            }
            return v
        }

        mutating func parseString() throws(CRDTError) -> String {
            pos += 1
            var units: [UInt16] = []
            var rawStart = pos
            var out = ""
            while true {
                guard pos < bytes.count else { throw error("unterminated string") }
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: bytes[rawStart..<pos], as: UTF8.self) else { throw error("invalid UTF-8") }
                    out += s
                    pos += 1
                    return out
                }
                if c < 0x20 { throw error("control character in string") }
                if c == UInt8(ascii: "\\") {
                    guard let s = String(validating: bytes[rawStart..<pos], as: UTF8.self) else { throw error("invalid UTF-8") }
                    out += s
                    pos += 1
                    guard pos < bytes.count else { throw error("truncated escape") }
                    let e = bytes[pos]
                    pos += 1
                    switch e {
                    case UInt8(ascii: "\""): out += "\""
                    case UInt8(ascii: "\\"): out += "\\"
                    case UInt8(ascii: "/"): out += "/"
                    case UInt8(ascii: "b"): out += "\u{08}"
                    case UInt8(ascii: "f"): out += "\u{0C}"
                    case UInt8(ascii: "n"): out += "\n"
                    case UInt8(ascii: "r"): out += "\r"
                    case UInt8(ascii: "t"): out += "\t"
                    case UInt8(ascii: "u"):
                        units.removeAll(keepingCapacity: true)
                        let u = try parseHex4()
                        units.append(u)
                        if UTF16.isLeadSurrogate(u) {
                            guard pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                                throw error("lone surrogate")
                            }
                            pos += 2
                            let low = try parseHex4()
                            guard UTF16.isTrailSurrogate(low) else { throw error("lone surrogate") }
                            units.append(low)
                        } else if UTF16.isTrailSurrogate(u) {
                            throw error("lone surrogate")
                        }
                        out += String(decoding: units, as: UTF16.self)
                    default: throw error("invalid escape")
                    }
                    rawStart = pos
                    continue
                }
                pos += 1
            }
        }
    }
}
