/// Writes the lib0 binary primitives that every Yjs format is built from
/// (spec section 1). Fixed-width numbers are big-endian, variable-length
/// integers little-endian base-128.
public struct Lib0Encoder: Sendable {
    /// The bytes written so far.
    public internal(set) var bytes: [UInt8]

    /// Creates an empty encoder, optionally reserving `capacity` bytes.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    /// Appends raw bytes without a length prefix.
    public mutating func writeRaw<S: Sequence>(_ data: S) where S.Element == UInt8 { bytes.append(contentsOf: data) }

    /// Appends an unsigned LEB128-style variable-length integer.
    public mutating func writeVarUInt(_ value: UInt64) {
        var n = value
        while n > 0x7F {
            bytes.append(UInt8(truncatingIfNeeded: n) | 0x80)
            n >>= 7
        }
        bytes.append(UInt8(n))
    }

    /// Appends a non-negative `Int` as a var-uint.
    public mutating func writeVarUInt(_ value: Int) {
        if value >= 0 && value < 0x80 { bytes.append(UInt8(value)); return }
        writeVarUInt(UInt64(value))
    }

    /// Appends a sign-magnitude variable-length integer (lib0 `writeVarInt`).
    /// `negativeZero` writes `-0`, which Yjs produces for JavaScript `-0`.
    public mutating func writeVarInt(_ value: Int64, negativeZero: Bool = false) {
        let negative = value < 0 || (value == 0 && negativeZero)
        var magnitude = value.magnitude
        var first = UInt8(magnitude & 0x3F) | (negative ? 0x40 : 0)
        magnitude >>= 6
        if magnitude > 0 { first |= 0x80 }
        bytes.append(first)
        while magnitude > 0 {
            var byte = UInt8(magnitude & 0x7F)
            magnitude >>= 7
            if magnitude > 0 { byte |= 0x80 }
            bytes.append(byte)
        }
    }

    /// Appends a var-uint length followed by the bytes.
    public mutating func writeVarBytes(_ data: [UInt8]) {
        writeVarUInt(data.count)
        bytes.append(contentsOf: data)
    }

    /// Appends a UTF-8 string with its byte length as var-uint prefix.
    public mutating func writeVarString(_ string: String) {
        var s = string
        s.withUTF8 { utf8 in
            writeVarUInt(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends UTF-16 code units as a UTF-8 var-string. A lone surrogate
    /// becomes U+FFFD, as JavaScript's `TextEncoder` does.
    public mutating func writeVarString(utf16 units: ArraySlice<UInt16>) {
        // ASCII fast path: one pass that copies while checking.
        let mark = bytes.count
        writeVarUInt(units.count)
        bytes.reserveCapacity(bytes.count + units.count)
        var ascii = true
        units.withUnsafeBufferPointer { buf in
            for u in buf {
                if u >= 0x80 { ascii = false; break }
                bytes.append(UInt8(truncatingIfNeeded: u))
            }
        }
        if ascii { return }
        bytes.removeSubrange(mark...)
        writeVarString(String(decoding: units, as: UTF16.self))
    }

    /// Appends a big-endian IEEE-754 single.
    public mutating func writeFloat32(_ value: Float) { writeBigEndian(value.bitPattern) }
    /// Appends a big-endian IEEE-754 double.
    public mutating func writeFloat64(_ value: Double) { writeBigEndian(value.bitPattern) }
    /// Appends a big-endian two's-complement 64-bit integer.
    public mutating func writeBigInt64(_ value: Int64) { writeBigEndian(UInt64(bitPattern: value)) }

    private mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.bigEndian
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
    }
}
