/// The column codecs of update format v2 (spec 4.2). Each column is its own
/// byte stream; the readers never trust a count they read: a run may repeat
/// a value, but every value handed out is checked by whoever uses it.

/// `Rle<uint8>`: a value byte, then (once the value changes) the previous
/// run's length minus one. The last run has no length.
struct RleByteColumnEncoder {
    private(set) var encoder = Lib0Encoder(capacity: 32)
    private var current: UInt8?
    private var count = 0

    mutating func write(_ value: UInt8) {
        if current == value {
            count += 1
            return
        }
        if count > 0 { encoder.writeVarUInt(count - 1) }
        count = 1
        current = value
        encoder.writeUInt8(value)
    }

    var bytes: [UInt8] { encoder.bytes }
}

/// `UintOptRle`: a single value as a var-int, a run as the negated value
/// (sign bit set, so a run of zeros is `-0`) and then the run length minus two.
struct UIntOptRleColumnEncoder {
    private var encoder = Lib0Encoder(capacity: 32)
    private var current = 0
    private var count = 0

    mutating func write(_ value: Int) {
        if count > 0 && current == value {
            count += 1
            return
        }
        flush()
        current = value
        count = 1
    }

    private mutating func flush() {
        guard count > 0 else { return }
        if count == 1 {
            encoder.writeVarInt(Int64(current))
        } else {
            encoder.writeVarInt(-Int64(current), negativeZero: current == 0)
            encoder.writeVarUInt(count - 2)
        }
    }

    /// The column's bytes, with the open run written out.
    func finished() -> [UInt8] {
        var copy = self
        copy.flush()
        return copy.encoder.bytes
    }
}

/// `IntDiffOptRle`: differences from the previous value (starting at 0), a run
/// of equal differences `d` of length `c` as `varInt(2d + (c > 1))` and then,
/// for a run, `c − 2`.
struct IntDiffOptRleColumnEncoder {
    private var encoder = Lib0Encoder(capacity: 32)
    private var last = 0
    private var diff = 0
    private var count = 0

    mutating func write(_ value: Int) {
        if count > 0 && diff == value &- last {
            last = value
            count += 1
            return
        }
        flush()
        count = 1
        diff = value &- last
        last = value
    }

    private mutating func flush() {
        guard count > 0 else { return }
        encoder.writeVarInt(Int64(diff) &* 2 &+ (count == 1 ? 0 : 1))
        if count > 1 { encoder.writeVarUInt(count - 2) }
    }

    func finished() -> [UInt8] {
        var copy = self
        copy.flush()
        return copy.encoder.bytes
    }
}

/// The string column: every string concatenated (one var-string), then their
/// lengths in UTF-16 units as `UintOptRle`. Concatenating the code units
/// before the one UTF-8 conversion is what JavaScript does, lone surrogates
/// included.
struct StringColumnEncoder {
    private var units: [UInt16] = []
    private var lengths = UIntOptRleColumnEncoder()

    mutating func write(_ string: String) {
        let before = units.count
        units.append(contentsOf: string.utf16)
        lengths.write(units.count - before)
    }

    mutating func write(utf16 slice: ArraySlice<UInt16>) {
        units.append(contentsOf: slice)
        lengths.write(slice.count)
    }

    func finished() -> [UInt8] {
        var enc = Lib0Encoder(capacity: units.count + 8)
        enc.writeVarString(utf16: units[...])
        enc.writeRaw(lengths.finished())
        return enc.finish()
    }
}

/// A reader over one column that reports errors at offsets of the whole update.
struct ColumnReader {
    var decoder: Lib0Decoder
    let base: Int

    init(_ bytes: ArraySlice<UInt8>) {
        decoder = Lib0Decoder(Array(bytes))
        base = bytes.startIndex
    }

    var isAtEnd: Bool { decoder.isAtEnd }

    /// Runs `body` on the column's decoder, moving any error's offset into the update.
    mutating func read<T>(_ body: (inout Lib0Decoder) throws(CRDTError) -> T) throws(CRDTError) -> T {
        do { return try body(&decoder) } catch {
            var moved = error
            if let o = error.offset { moved.offset = o + base }
            throw moved
        }
    }
}

struct RleByteColumnDecoder {
    private var column: ColumnReader
    private var current: UInt8 = 0
    /// Values left in the current run; -1: the last run, which never ends.
    private var count = 0

    init(_ bytes: ArraySlice<UInt8>) { column = ColumnReader(bytes) }

    mutating func read() throws(CRDTError) -> UInt8 {
        if count == 0 {
            current = try column.read { d throws(CRDTError) in try d.readUInt8() }
            count = column.isAtEnd ? -1 : try column.read { d throws(CRDTError) in try d.readVarUInt() } &+ 1
        }
        if count > 0 { count -= 1 }
        return current
    }
}

struct UIntOptRleColumnDecoder {
    private var column: ColumnReader
    private var current = 0
    private var count = 0

    init(_ bytes: ArraySlice<UInt8>) { column = ColumnReader(bytes) }

    init(reader: ColumnReader) { column = reader }

    mutating func read() throws(CRDTError) -> Int {
        if count == 0 {
            let start = column.decoder.position + column.base
            let (value, negativeZero) = try column.read { d throws(CRDTError) in try d.readVarIntWithSign() }
            count = 1
            if value < 0 || negativeZero {
                count = try column.read { d throws(CRDTError) in try d.readVarUInt() } &+ 2
            }
            guard value.magnitude <= UInt64(Int.max) else { throw CRDTError(.integerOverflow, offset: start, "column value too large") }
            current = Int(value.magnitude)
        }
        count -= 1
        return current
    }
}

struct IntDiffOptRleColumnDecoder {
    private var column: ColumnReader
    private var current = 0
    private var diff = 0
    private var count = 0

    init(_ bytes: ArraySlice<UInt8>) { column = ColumnReader(bytes) }

    mutating func read() throws(CRDTError) -> Int {
        let start = column.decoder.position + column.base
        if count == 0 {
            let encoded = try column.read { d throws(CRDTError) in try d.readVarInt() }
            diff = Int(encoded >> 1)
            count = 1
            if encoded & 1 != 0 { count = try column.read { d throws(CRDTError) in try d.readVarUInt() } &+ 2 }
        }
        let (next, overflow) = current.addingReportingOverflow(diff)
        guard !overflow else { throw CRDTError(.integerOverflow, offset: start, "column value overflows") }
        current = next
        count -= 1
        return current
    }
}

struct StringColumnDecoder {
    private let units: [UInt16]
    private var position = 0
    private var lengths: UIntOptRleColumnDecoder
    private let base: Int

    init(_ bytes: ArraySlice<UInt8>) throws(CRDTError) {
        var column = ColumnReader(bytes)
        units = try column.read { d throws(CRDTError) in try d.readVarStringUTF16() }
        base = bytes.startIndex
        lengths = UIntOptRleColumnDecoder(reader: column)
    }

    /// Code units not handed out yet: an upper bound on how many more strings can be non-empty.
    var remainingUnits: Int { units.count - position }

    mutating func readUTF16() throws(CRDTError) -> ArraySlice<UInt16> {
        let n = try lengths.read()
        guard n <= units.count - position else {
            throw CRDTError(.truncated, offset: base, "string of \(n) units, \(units.count - position) left in the string column")
        }
        defer { position += n }
        return units[position..<(position + n)]
    }

    mutating func read() throws(CRDTError) -> String {
        String(decoding: try readUTF16(), as: UTF16.self)
    }
}
