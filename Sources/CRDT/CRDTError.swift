/// An error raised by the CRDT engine: malformed bytes, an invalid edit, or
/// an update that cannot be applied. Decoding errors carry the byte offset
/// where the input stopped making sense.
///
/// A struct over a code (rather than a public enum) so that new cases can be
/// added without breaking callers; match with `error.code == .truncated`.
public struct CRDTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable, matchable kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The input ended before a value was complete.
        public static let truncated = Code(rawValue: "truncated")
        /// A variable-length integer was longer than 10 bytes or overflowed.
        public static let integerOverflow = Code(rawValue: "integer_overflow")
        /// A tag, content reference or type reference is unknown.
        public static let invalidTag = Code(rawValue: "invalid_tag")
        /// Bytes are not valid UTF-8, or JSON text is not valid JSON.
        public static let invalidText = Code(rawValue: "invalid_text")
        /// A length or count is larger than the input can hold.
        public static let invalidLength = Code(rawValue: "invalid_length")
        /// Bytes were left over after a complete value.
        public static let trailingBytes = Code(rawValue: "trailing_bytes")
        /// The structure is inconsistent (overlapping clocks, bad references, ...).
        public static let invalidStructure = Code(rawValue: "invalid_structure")
        /// An edit used an index or length outside the type's content.
        public static let indexOutOfRange = Code(rawValue: "index_out_of_range")
        /// An edit would split a UTF-16 surrogate pair.
        public static let surrogateSplit = Code(rawValue: "surrogate_split")
        /// A value cannot be stored (e.g. a type that is already integrated elsewhere).
        public static let invalidValue = Code(rawValue: "invalid_value")
    }

    /// What went wrong.
    public var code: Code
    /// Byte offset into the input where decoding failed, if the error came from decoding.
    public var offset: Int?
    /// Human-readable detail; never contains document content.
    public var message: String

    public init(_ code: Code, offset: Int? = nil, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset { return "\(code) at byte \(offset): \(message)" }
        return "\(code): \(message)"
    }
}
