/// Writes the lib0 binary primitives that every Yjs format is built from
/// (spec section 1). Fixed-width numbers are big-endian, variable-length
/// integers little-endian base-128.
public struct Lib0Encoder: Sendable {
    /// Written bytes are `storage[..<count]`; the rest is zeroed room that
    /// writes fill through one buffer pointer per call, instead of checking an
    /// array's uniqueness and capacity for every byte appended (a Yjs client
    /// id alone is five bytes).
    private var storage: [UInt8]
    private var count = 0

    /// The bytes written so far.
    public var bytes: [UInt8] {
        get { count == storage.count ? storage : Array(storage[..<count]) }
        set {
            storage = newValue
            count = newValue.count
        }
    }

    /// The number of bytes written so far.
    public var byteCount: Int { count }

    /// Creates an empty encoder, optionally reserving `capacity` bytes.
    public init(capacity: Int = 64) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// The written bytes, without copying them; the encoder is empty afterwards.
    public mutating func finish() -> [UInt8] {
        storage.removeLast(storage.count - count)
        defer {
            storage = []
            count = 0
        }
        return storage
    }

    /// Makes room for `n` more bytes past `count`, at least doubling.
    @inline(__always) private mutating func makeRoom(_ n: Int) {
        guard count + n > storage.count else { return }
        growRoom(n)
    }

    private mutating func growRoom(_ n: Int) {
        let target = max(count + n, storage.count * 2, 16)
        storage.reserveCapacity(target)
        storage.append(contentsOf: repeatElement(0, count: target - storage.count))
    }

    /// Writes several small fields at once: `body` gets a cursor over room
    /// for at least `maxBytes` bytes and must write no more than that. One
    /// buffer access for a struct's header instead of one per field.
    @inline(__always) mutating func withCursor(reserving maxBytes: Int, _ body: (inout Lib0Cursor) -> Void) {
        makeRoom(maxBytes)
        let at = count
        count = storage.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return at }
            var cursor = Lib0Cursor(next: base + at, end: base + buf.count)
            body(&cursor)
            return cursor.next - base
        }
    }

    /// Appends one byte.
    public mutating func writeUInt8(_ value: UInt8) {
        withCursor(reserving: 1) { $0.writeUInt8(value) }
    }

    /// Appends raw bytes without a length prefix.
    public mutating func writeRaw<S: Sequence>(_ data: S) where S.Element == UInt8 {
        if count < storage.count { storage.removeLast(storage.count - count) }
        storage.append(contentsOf: data)
        count = storage.count
    }

    /// Appends an unsigned LEB128-style variable-length integer.
    public mutating func writeVarUInt(_ value: UInt64) {
        withCursor(reserving: Lib0Cursor.maxVarUInt) { $0.writeVarUInt(value) }
    }

    /// Appends a non-negative `Int` as a var-uint.
    public mutating func writeVarUInt(_ value: Int) {
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
        writeUInt8(first)
        while magnitude > 0 {
            var byte = UInt8(magnitude & 0x7F)
            magnitude >>= 7
            if magnitude > 0 { byte |= 0x80 }
            writeUInt8(byte)
        }
    }

    /// Appends a var-uint length followed by the bytes.
    public mutating func writeVarBytes(_ data: [UInt8]) {
        writeVarUInt(data.count)
        writeBytes(data)
    }

    /// Appends a UTF-8 string with its byte length as var-uint prefix.
    public mutating func writeVarString(_ string: String) {
        var s = string
        s.withUTF8 { utf8 in
            writeVarUInt(utf8.count)
            writeBytes(utf8)
        }
    }

    /// Appends UTF-16 code units as a UTF-8 var-string. A lone surrogate
    /// becomes U+FFFD, as JavaScript's `TextEncoder` does.
    public mutating func writeVarString(utf16 units: ArraySlice<UInt16>) {
        units.withUnsafeBufferPointer { source in
            // ASCII (the common case) narrows unit by unit into the buffer.
            var any: UInt16 = 0
            for u in source { any |= u }
            guard any < 0x80 else {
                writeVarString(String(decoding: source, as: UTF16.self))
                return
            }
            writeVarUInt(source.count)
            makeRoom(source.count)
            let at = count
            storage.withUnsafeMutableBufferPointer { buf in
                guard let to = buf.baseAddress, let from = source.baseAddress else { return }
                for k in 0..<source.count { (to + at + k).pointee = UInt8(truncatingIfNeeded: from[k]) }
            }
            count = at + source.count
        }
    }

    /// Copies `data` in with one bounds check.
    private mutating func writeBytes(_ data: some Collection<UInt8>) {
        makeRoom(data.count)
        let at = count
        let n = storage.withUnsafeMutableBufferPointer { buf in
            UnsafeMutableBufferPointer(rebasing: buf[at...]).initialize(fromContentsOf: data)
        }
        count = at + n
    }

    /// Appends a big-endian IEEE-754 single.
    public mutating func writeFloat32(_ value: Float) { writeBigEndian(value.bitPattern) }
    /// Appends a big-endian IEEE-754 double.
    public mutating func writeFloat64(_ value: Double) { writeBigEndian(value.bitPattern) }
    /// Appends a big-endian two's-complement 64-bit integer.
    public mutating func writeBigInt64(_ value: Int64) { writeBigEndian(UInt64(bitPattern: value)) }

    private mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.bigEndian
        withUnsafeBytes(of: &v) { writeBytes($0) }
    }
}


/// A write position inside room an encoder made (see
/// ``Lib0Encoder/withCursor(reserving:_:)``); writes past the room trap.
struct Lib0Cursor {
    fileprivate var next: UnsafeMutablePointer<UInt8>
    fileprivate let end: UnsafeMutablePointer<UInt8>

    /// The most bytes a var-uint takes.
    static let maxVarUInt = 10

    @inline(__always) mutating func writeUInt8(_ value: UInt8) {
        precondition(next < end, "cursor past the reserved room")
        next.pointee = value
        next += 1
    }

    @inline(__always) mutating func writeVarUInt(_ value: Int) {
        writeVarUInt(UInt64(value))
    }

    @inline(__always) mutating func writeVarUInt(_ value: UInt64) {
        var n = value
        while n > 0x7F {
            writeUInt8(UInt8(truncatingIfNeeded: n) | 0x80)
            n >>= 7
        }
        writeUInt8(UInt8(truncatingIfNeeded: n))
    }
}
