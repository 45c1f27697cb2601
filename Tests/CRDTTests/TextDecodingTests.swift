import Testing
import TestBasics
@testable import CRDT

/// The block-wise string decoding and surrogate search against their plain definitions.
@Suite("text decoding")
struct TextDecodingTests {
    /// A random string: ASCII only, or with two- to four-byte UTF-8 characters
    /// (emoji among them: surrogate pairs in UTF-16) anywhere, lengths around
    /// the decoder's and the search's block sizes.
    static func randomString(_ rng: inout TestSupport.SeededRandom, asciiOnly: Bool) -> String {
        let length = [0, 1, 15, 16, 17, 4_095, 4_096, 4_097, 9_000].randomElement(using: &rng) ?? 0
        let pool: [Character] = asciiOnly ? ["a", "Z", " ", "~", "\u{7F}", "\u{0}"] : ["a", "é", "€", "😀", "𝄞", "\u{7F}", "\u{80}", "中"]
        return String((0..<length).map { _ in pool.randomElement(using: &rng) ?? "a" })
    }

    @Test("strings decode to their UTF-16 units; invalid UTF-8 is refused (seeded)", arguments: [1, 2, 3, 4] as [UInt64])
    func strings(seed: UInt64) throws {
        var rng = TestSupport.SeededRandom(seed: seed)
        for round in 0..<60 {
            let s = Self.randomString(&rng, asciiOnly: round % 2 == 0)
            var enc = Lib0Encoder()
            enc.writeVarString(s)
            var dec = Lib0Decoder(enc.bytes)
            #expect(try dec.readVarStringUTF16() == Array(s.utf16), "seed \(seed) round \(round): \(s.utf8.count) bytes")
            #expect(dec.isAtEnd)
        }
        // A lone continuation byte after a long ASCII run: the high bit is found wherever it is.
        for at in [0, 15, 16, 4_095, 4_096, 8_191] {
            var bytes = [UInt8](repeating: 0x61, count: 8_192)
            bytes[at] = 0x80
            var enc = Lib0Encoder()
            enc.writeVarUInt(UInt64(bytes.count))
            var dec = Lib0Decoder(enc.bytes + bytes)
            #expect(throws: CRDTError.self, "invalid byte at \(at) accepted") { _ = try dec.readVarStringUTF16() }
        }
    }

    @Test("the surrogate search agrees with an element-by-element search (seeded)", arguments: [1, 2, 3] as [UInt64])
    func surrogates(seed: UInt64) {
        var rng = TestSupport.SeededRandom(seed: seed)
        for round in 0..<200 {
            let count = Int.random(in: 0..<10_000, using: &rng)
            var units = (0..<count).map { _ in UInt16.random(in: 0..<0xD800, using: &rng) }
            // Nothing, one surrogate at a random place (often near a block edge), or several.
            switch round % 3 {
            case 1 where count > 0:
                let edge = [0, 4_095, 4_096, 8_191, 8_192, count - 1].filter { $0 < count }.randomElement(using: &rng) ?? 0
                units[Bool.random(using: &rng) ? edge : Int.random(in: 0..<count, using: &rng)] = UInt16.random(in: 0xD800...0xDFFF, using: &rng)
            case 2 where count > 0:
                for _ in 0..<3 { units[Int.random(in: 0..<count, using: &rng)] = UInt16.random(in: 0xE000...0xFFFF, using: &rng) }
            default:
                break
            }
            #expect(containsSurrogate(units) == units.contains { $0 & 0xF800 == 0xD800 }, "seed \(seed) round \(round)")
        }
    }
}
