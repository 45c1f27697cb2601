import Testing
import TestBasics
import Foundation
import CRDT

@Suite("lib0 primitives")
struct Lib0Tests {
    let vectors: YAny

    init() throws { vectors = try TestSupport.readJSON(TestSupport.vectorsDir.appendingPathComponent("primitives.json")) }

    @Test("varUint vectors encode and decode")
    func varUint() throws {
        guard case .array(let cases)? = vectors["varUint"] else { Issue.record("no varUint vectors"); return }
        #expect(cases.count > 5)
        for c in cases {
            guard let v = c["value"]?.doubleValue, case .string(let h)? = c["hex"] else { continue }
            var enc = Lib0Encoder()
            enc.writeVarUInt(UInt64(v))
            #expect(TestSupport.hex(enc.bytes) == h, "varUint \(v)")
            var dec = Lib0Decoder(TestSupport.unhex(h))
            #expect(try dec.readVarUInt64() == UInt64(v))
            #expect(dec.isAtEnd)
        }
    }

    @Test("varInt vectors encode and decode, including -0")
    func varInt() throws {
        guard case .array(let cases)? = vectors["varInt"] else { Issue.record("no varInt vectors"); return }
        for c in cases {
            guard case .string(let h)? = c["hex"] else { continue }
            var dec = Lib0Decoder(TestSupport.unhex(h))
            let (value, negZero) = try dec.readVarIntWithSign()
            #expect(dec.isAtEnd)
            if let v = c["value"]?.doubleValue {
                #expect(Double(value) == v, "varInt \(h)")
                var enc = Lib0Encoder()
                enc.writeVarInt(Int64(v), negativeZero: negZero)
                #expect(TestSupport.hex(enc.bytes) == h)
            }
        }
    }

    @Test("varString vectors count UTF-8 bytes")
    func varString() throws {
        guard case .array(let cases)? = vectors["varString"] else { Issue.record("no varString vectors"); return }
        for c in cases {
            guard case .string(let s)? = c["value"], case .string(let h)? = c["hex"] else { continue }
            var enc = Lib0Encoder()
            enc.writeVarString(s)
            #expect(TestSupport.hex(enc.bytes) == h)
            var dec = Lib0Decoder(TestSupport.unhex(h))
            #expect(try dec.readVarString() == s)
        }
    }

    @Test("Any vectors decode to their values and re-encode with Yjs' rules")
    func anyValues() throws {
        guard case .array(let cases)? = vectors["any"] else { Issue.record("no Any vectors"); return }
        #expect(cases.count > 10)
        for c in cases {
            guard case .string(let h)? = c["hex"] else { continue }
            var dec = Lib0Decoder(TestSupport.unhex(h))
            let v = try dec.readAny()
            #expect(dec.isAtEnd, "Any \(h) not fully consumed")
            var enc = Lib0Encoder()
            enc.writeAny(v)
            #expect(TestSupport.hex(enc.bytes) == h, "Any \(h) re-encoded as \(TestSupport.hex(enc.bytes))")
        }
    }

    @Test("random values round-trip through Any (seeded)", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func anyRoundTrip(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        func value(_ depth: Int) -> YAny {
            switch Int.random(in: 0..<(depth > 3 ? 8 : 10), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .number(Double(Int32.random(in: .min ... .max, using: &rng)))
            case 3: return .number(Double.random(in: -1e300...1e300, using: &rng))
            case 4: return .string(String((0..<Int.random(in: 0...8, using: &rng)).map { _ in "aé😀x".randomElement(using: &rng)! }))
            case 5: return .bigint(Int64.random(in: .min ... .max, using: &rng))
            case 6: return .bytes((0..<Int.random(in: 0...5, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            case 7: return .undefined
            case 8: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(depth + 1) })
            default: return .object((0..<Int.random(in: 0...4, using: &rng)).map { i in ("k\(i)", value(depth + 1)) })
            }
        }
        for _ in 0..<300 {
            let v = value(0)
            var enc = Lib0Encoder()
            enc.writeAny(v)
            var dec = Lib0Decoder(enc.bytes)
            let back = try dec.readAny()
            #expect(back == v, "seed \(seed): \(v)")
            #expect(dec.isAtEnd)
        }
    }

    @Test("the encoder's bytes equal a byte-by-byte model across growth, copies, bytes set and finish (seeded)", arguments: [1, 2, 3] as [UInt64])
    func encoderMatchesModel(seed: UInt64) {
        var rng = TestSupport.SeededRandom(seed: seed)
        var enc = Lib0Encoder(capacity: Int.random(in: 0...8, using: &rng))
        var model: [UInt8] = []
        func leb(_ v: UInt64) -> [UInt8] {
            var n = v, out: [UInt8] = []
            while n > 0x7F { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
            return out + [UInt8(n)]
        }
        for step in 0..<2_500 {
            switch Int.random(in: 0..<9, using: &rng) {
            case 0:
                let b = UInt8.random(in: 0...255, using: &rng)
                enc.writeUInt8(b); model.append(b)
            case 1:
                // Every width from one byte to ten.
                let v = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)
                enc.writeVarUInt(v); model += leb(v)
            case 2:
                let raw = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                enc.writeRaw(raw); model += raw
            case 3:
                let units = (0..<Int.random(in: 0...60, using: &rng)).map { _ in UInt16.random(in: 0x20...0x7E, using: &rng) }
                enc.writeVarString(utf16: units[...]); model += leb(UInt64(units.count)) + units.map { UInt8($0) }
            case 4:
                let s = String((0..<Int.random(in: 0...6, using: &rng)).map { _ in "aé😀x".randomElement(using: &rng)! })
                enc.writeVarString(utf16: Array(s.utf16)[...]); model += leb(UInt64(s.utf8.count)) + Array(s.utf8)
            case 5:
                let d = Double.random(in: -1e9...1e9, using: &rng)
                enc.writeFloat64(d); model += withUnsafeBytes(of: d.bitPattern.bigEndian) { Array($0) }
            case 6:
                // A copy keeps what it had when the original goes on writing.
                let copy = enc
                enc.writeUInt8(7)
                #expect(copy.bytes == model, "seed \(seed) step \(step): copy")
                model.append(7)
            case 7:
                var bytes = enc.bytes
                bytes.append(9)
                enc.bytes = bytes
                model.append(9)
            default:
                #expect(enc.byteCount == model.count, "seed \(seed) step \(step)")
            }
            #expect(enc.bytes == model, "seed \(seed) step \(step)")
        }
        #expect(enc.finish() == model, "seed \(seed)")
        #expect(enc.bytes.isEmpty && enc.byteCount == 0)
    }

    @Test("JSON text matches JSON.stringify number formatting")
    func jsonNumbers() {
        let cases: [(Double, String)] = [
            (0, "0"), (1, "1"), (-1, "-1"), (1.5, "1.5"), (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
            (1e-7, "1e-7"), (0.000001, "0.000001"), (123.456, "123.456"), (-2.5e-10, "-2.5e-10"), (Double.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (2147483648, "2147483648"), (9007199254740991, "9007199254740991"),
            (1152921504606846976, "1152921504606847000"),
        ]
        for (d, s) in cases { #expect(JSONText.formatNumber(d) == s, "\(d)") }
        #expect(JSONText.stringify(["a": "x\"y\n", "b": [true, .null]]) == #"{"a":"x\"y\n","b":[true,null]}"#)
    }

    @Test("truncated and overlong integers are typed errors with offsets")
    func badIntegers() {
        var dec = Lib0Decoder([0x80, 0x80])
        #expect(throws: CRDTError.self) { try dec.readVarUInt() }
        var long = Lib0Decoder([UInt8](repeating: 0xFF, count: 11) + [0x01])
        do {
            _ = try long.readVarUInt64()
            Issue.record("accepted an 11-byte var-uint")
        } catch {
            #expect(error.code == .integerOverflow)
            #expect(error.offset == 0)
        }
        var count = Lib0Decoder([0xFF, 0xFF, 0x03, 0x00])
        #expect(throws: CRDTError.self) { try count.readCount(minimumBytesEach: 1) }
    }
}
