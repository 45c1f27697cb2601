/// Reads lib0 binary primitives from untrusted bytes. Every read is bounds
/// checked and throws a ``CRDTError`` carrying the byte offset; no read ever
/// allocates more than the remaining input can justify.
public struct Lib0Decoder: Sendable {
    /// The input.
    public let bytes: [UInt8]
    /// Offset of the next byte to read.
    public internal(set) var position: Int

    public init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - position }
    /// Whether every byte has been read.
    public var isAtEnd: Bool { position >= bytes.count }

    /// Throws unless the whole input was consumed.
    public func expectEnd() throws(CRDTError) {
        if position != bytes.count {
            throw CRDTError(.trailingBytes, offset: position, "\(bytes.count - position) unread bytes")
        }
    }

    public mutating func readUInt8() throws(CRDTError) -> UInt8 {
        guard position < bytes.count else { throw CRDTError(.truncated, offset: position, "expected a byte") }
        let b = bytes[position]
        position += 1
        return b
    }

    /// Reads a var-uint of at most 10 bytes that fits in 64 bits.
    public mutating func readVarUInt64() throws(CRDTError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw CRDTError(.truncated, offset: start, "unterminated var-uint") }
            let b = bytes[position]
            position += 1
            if shift == 63 && (b & 0x7F) > 1 {
                throw CRDTError(.integerOverflow, offset: start, "var-uint exceeds 64 bits")
            }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw CRDTError(.integerOverflow, offset: start, "var-uint longer than 10 bytes") }
        }
    }

    /// Reads a var-uint that must fit in a non-negative `Int` (clocks, client ids, counts).
    public mutating func readVarUInt() throws(CRDTError) -> Int {
        if position < bytes.count, bytes[position] < 0x80 {
            let b = bytes[position]
            position += 1
            return Int(b)
        }
        let start = position
        let v = try readVarUInt64()
        guard v <= UInt64(Int.max) else { throw CRDTError(.integerOverflow, offset: start, "value \(v) too large") }
        return Int(v)
    }

    /// Reads a count of items that each take at least `minimumBytes` bytes,
    /// rejecting counts the remaining input cannot possibly hold.
    public mutating func readCount(minimumBytesEach: Int = 1) throws(CRDTError) -> Int {
        let start = position
        let n = try readVarUInt()
        if minimumBytesEach > 0 && n > remaining / minimumBytesEach {
            throw CRDTError(.invalidLength, offset: start, "count \(n) exceeds remaining input (\(remaining) bytes)")
        }
        return n
    }

    /// Reads a sign-magnitude var-int. Returns the value and whether it was `-0`.
    public mutating func readVarIntWithSign() throws(CRDTError) -> (value: Int64, negativeZero: Bool) {
        let start = position
        let first = try readUInt8()
        let negative = first & 0x40 != 0
        var magnitude = UInt64(first & 0x3F)
        var shift: UInt64 = 6
        var more = first & 0x80 != 0
        while more {
            guard position < bytes.count else { throw CRDTError(.truncated, offset: start, "unterminated var-int") }
            let b = bytes[position]
            position += 1
            if shift > 62 { throw CRDTError(.integerOverflow, offset: start, "var-int too long") }
            let part = UInt64(b & 0x7F)
            if shift > 56 && part >> (63 - shift) != 0 { throw CRDTError(.integerOverflow, offset: start, "var-int exceeds 63 bits") }
            magnitude |= part << shift
            shift += 7
            more = b & 0x80 != 0
        }
        let value = negative ? -Int64(magnitude) : Int64(magnitude)
        return (value, negative && magnitude == 0)
    }

    public mutating func readVarInt() throws(CRDTError) -> Int64 { try readVarIntWithSign().value }

    /// Reads `count` raw bytes.
    public mutating func readBytes(_ count: Int) throws(CRDTError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw CRDTError(.truncated, offset: position, "expected \(count) bytes, \(remaining) left")
        }
        let slice = bytes[position..<(position + count)]
        position += count
        return slice
    }

    /// Reads a var-uint length followed by that many bytes.
    public mutating func readVarBytes() throws(CRDTError) -> [UInt8] {
        let start = position
        let n = try readVarUInt()
        guard n <= remaining else { throw CRDTError(.truncated, offset: start, "byte array of \(n) bytes, \(remaining) left") }
        return Array(try readBytes(n))
    }

    /// Reads a UTF-8 var-string; invalid UTF-8 is an error.
    public mutating func readVarString() throws(CRDTError) -> String {
        let start = position
        let n = try readVarUInt()
        guard n <= remaining else { throw CRDTError(.truncated, offset: start, "string of \(n) bytes, \(remaining) left") }
        let slice = try readBytes(n)
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw CRDTError(.invalidText, offset: start, "string is not valid UTF-8")
        }
        return s
    }

    /// Reads a UTF-8 var-string as UTF-16 code units (the clock unit of text).
    public mutating func readVarStringUTF16() throws(CRDTError) -> [UInt16] {
        let start = position
        let n = try readVarUInt()
        guard n <= remaining else { throw CRDTError(.truncated, offset: start, "string of \(n) bytes, \(remaining) left") }
        let slice = try readBytes(n)
        // Widened and checked for ASCII in one pass over raw memory, which the
        // compiler vectorizes: most text is ASCII, and a joiner of a large
        // document spent a third of its time here byte by byte.
        var high: UInt8 = 0
        let widened = slice.withUnsafeBufferPointer { source in
            [UInt16](unsafeUninitializedCapacity: source.count) { out, count in
                for i in 0..<source.count {
                    high |= source[i]
                    out[i] = UInt16(source[i])
                }
                count = source.count
            }
        }
        if high < 0x80 { return widened }
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw CRDTError(.invalidText, offset: start, "string is not valid UTF-8")
        }
        return Array(s.utf16)
    }

    public mutating func readFloat32() throws(CRDTError) -> Float { Float(bitPattern: try readBigEndian(UInt32.self)) }
    public mutating func readFloat64() throws(CRDTError) -> Double { Double(bitPattern: try readBigEndian(UInt64.self)) }
    public mutating func readBigInt64() throws(CRDTError) -> Int64 { Int64(bitPattern: try readBigEndian(UInt64.self)) }

    private mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws(CRDTError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw CRDTError(.truncated, offset: position, "expected \(size) bytes") }
        var v: T = 0
        for i in 0..<size { v = (v << 8) | T(bytes[position + i]) }
        position += size
        return v
    }
}
