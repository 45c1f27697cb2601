import CRDT

/// A stable protocol error code (Protocol/PROTOCOL.md section 5), used in
/// `error` and `refused` messages. A struct over a number so that new codes
/// can be added without breaking callers.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let badMessage = ErrorCode(rawValue: 1)
    public static let unsupportedVersion = ErrorCode(rawValue: 2)
    public static let unauthenticated = ErrorCode(rawValue: 3)
    public static let tokenExpired = ErrorCode(rawValue: 4)
    public static let forbidden = ErrorCode(rawValue: 5)
    public static let unknownDocument = ErrorCode(rawValue: 6)
    public static let readOnly = ErrorCode(rawValue: 7)
    public static let messageTooLarge = ErrorCode(rawValue: 8)
    public static let rateLimited = ErrorCode(rawValue: 9)
    public static let tooManyDocuments = ErrorCode(rawValue: 10)
    public static let malformedUpdate = ErrorCode(rawValue: 11)
    public static let storeUnavailable = ErrorCode(rawValue: 12)
    public static let `internal` = ErrorCode(rawValue: 13)
    public static let membershipRevoked = ErrorCode(rawValue: 14)
    public static let overloaded = ErrorCode(rawValue: 15)
    public static let invalidDevice = ErrorCode(rawValue: 16)

    static let names: [Int: String] = [
        1: "bad_message", 2: "unsupported_version", 3: "unauthenticated", 4: "token_expired", 5: "forbidden",
        6: "unknown_document", 7: "read_only", 8: "message_too_large", 9: "rate_limited", 10: "too_many_documents",
        11: "malformed_update", 12: "store_unavailable", 13: "internal", 14: "membership_revoked", 15: "overloaded",
        16: "invalid_device",
    ]

    /// The code's name as written in PROTOCOL.md, e.g. `read_only`.
    public var name: String { Self.names[rawValue] ?? "code_\(rawValue)" }
    public var description: String { name }
}

/// WebSocket close codes of the protocol (PROTOCOL.md section 5).
public enum CloseCode {
    public static let badMessage: UInt16 = 4400
    public static let unauthenticated: UInt16 = 4401
    public static let forbidden: UInt16 = 4403
    public static let flooding: UInt16 = 4408
    public static let unsupportedVersion: UInt16 = 4426
    public static let goingAway: UInt16 = 1001
    /// RFC 6455: the frame broke the WebSocket protocol (e.g. bad fragmentation).
    public static let protocolError: UInt16 = 1002
    /// RFC 6455: a message larger than the endpoint takes.
    public static let messageTooBig: UInt16 = 1009
    /// RFC 6455: the server met a condition that kept it from going on (store unavailable, internal error).
    public static let internalError: UInt16 = 1011
    /// The server is too busy to set the connection up; reconnect later (RFC 6455 "Try Again Later").
    public static let tryAgainLater: UInt16 = 1013
}

/// A message that could not be decoded, with the protocol code to answer with.
public struct SyncProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    /// Byte offset in the message where decoding failed, if known.
    public var offset: Int?
    public var message: String

    public init(_ code: ErrorCode, offset: Int? = nil, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String {
        offset.map { "\(code) at byte \($0): \(message)" } ?? "\(code): \(message)"
    }
}

extension SyncProtocolError {
    /// Runs a decoder; any failure becomes `bad_message` with the offset where known.
    static func decoding<T>(_ body: () throws -> T) throws(SyncProtocolError) -> T {
        do {
            return try body()
        } catch let e as SyncProtocolError {
            throw e
        } catch let e as CRDTError {
            throw SyncProtocolError(.badMessage, offset: e.offset, e.message)
        } catch {
            throw SyncProtocolError(.badMessage, "\(error)")
        }
    }
}
