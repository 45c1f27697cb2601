/// Why a client operation failed, with what to do about it.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The local database could not be opened, read or written.
    case storage(String)
    /// No profile in this data directory: run `nest login`.
    case notLoggedIn
    /// A stored document could not be decoded (the file was damaged).
    case corruptDocument(String, String)
    /// No such document in the local store.
    case unknownDocument(String)
    /// The server refused the token (close 4401).
    case unauthenticated(String)
    /// The server refused access (close 4403).
    case forbidden(String)
    /// The server could not be reached or the connection broke.
    case network(String)
    /// The server sent something this client does not understand.
    case protocolViolation(String)
    /// The operation did not finish in time.
    case timeout(String)
    /// An edit was refused by the model (validation).
    case invalidEdit(String)

    public var description: String {
        switch self {
        case .storage(let s): return "local store: \(s)"
        case .notLoggedIn: return "not logged in: run `nest login --server URL --token TOKEN` first"
        case .corruptDocument(let d, let s): return "local copy of \(d) is damaged (\(s)); `nest doc export` what you can, then remove the data directory and sync again"
        case .unknownDocument(let d): return "no document \(d) in this data directory (try `nest sync` first)"
        case .unauthenticated(let s): return "the server refused the token (\(s)): get a new one and run `nest login` again"
        case .forbidden(let s): return "access refused: \(s)"
        case .network(let s): return "cannot reach the server: \(s) — your edits are kept locally; retry with `nest sync`"
        case .protocolViolation(let s): return "unexpected message from the server: \(s)"
        case .timeout(let s): return "timed out: \(s) — your edits are kept locally; retry with `nest sync`"
        case .invalidEdit(let s): return s
        }
    }
}
