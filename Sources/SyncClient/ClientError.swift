/// Why a client operation failed, with what to do about it.
///
/// A struct over a code (as `CRDTError` is) so that new kinds can be added
/// without breaking callers; match with `error.code == .network`.
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, matchable kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The local database could not be opened, read or written.
        public static let storage = Code(rawValue: "storage")
        /// No profile in this data directory: run `nest login`.
        public static let notLoggedIn = Code(rawValue: "not_logged_in")
        /// A stored document could not be decoded (the file was damaged).
        public static let corruptDocument = Code(rawValue: "corrupt_document")
        /// No such document in the local store.
        public static let unknownDocument = Code(rawValue: "unknown_document")
        /// The server refused the token (close 4401).
        public static let unauthenticated = Code(rawValue: "unauthenticated")
        /// The server refused access (close 4403).
        public static let forbidden = Code(rawValue: "forbidden")
        /// The server could not be reached or the connection broke.
        public static let network = Code(rawValue: "network")
        /// The server sent something this client does not understand.
        public static let protocolViolation = Code(rawValue: "protocol_violation")
        /// The operation did not finish in time.
        public static let timeout = Code(rawValue: "timeout")
        /// An edit was refused by the model (validation).
        public static let invalidEdit = Code(rawValue: "invalid_edit")
    }

    /// What kind of failure.
    public var code: Code
    /// What to tell the user, with what to do about it.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func storage(_ s: String) -> ClientError { ClientError(.storage, "local store: \(s)") }
    public static let notLoggedIn = ClientError(.notLoggedIn, "not logged in: run `nest login --server URL --token TOKEN` first")
    public static func corruptDocument(_ document: String, _ why: String) -> ClientError {
        ClientError(.corruptDocument, "local copy of \(document) is damaged (\(why)); `nest doc export` what you can, then remove the data directory and sync again")
    }
    public static func unknownDocument(_ d: String) -> ClientError { ClientError(.unknownDocument, "no document \(d) in this data directory (try `nest sync` first)") }
    public static func unauthenticated(_ s: String) -> ClientError {
        ClientError(.unauthenticated, "the server refused the token (\(s)): get a new one and run `nest login` again")
    }
    public static func forbidden(_ s: String) -> ClientError { ClientError(.forbidden, "access refused: \(s)") }
    public static func network(_ s: String) -> ClientError {
        ClientError(.network, "cannot reach the server: \(s) — your edits are kept locally; retry with `nest sync`")
    }
    public static func protocolViolation(_ s: String) -> ClientError { ClientError(.protocolViolation, "unexpected message from the server: \(s)") }
    public static func timeout(_ s: String) -> ClientError { ClientError(.timeout, "timed out: \(s) — your edits are kept locally; retry with `nest sync`") }
    public static func invalidEdit(_ s: String) -> ClientError { ClientError(.invalidEdit, s) }
}
