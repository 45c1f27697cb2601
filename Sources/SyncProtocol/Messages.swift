/// A workspace role (PROTOCOL.md section 3).
public enum Role: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case owner = 0, admin = 1, editor = 2, viewer = 3

    /// Whether the role may change documents.
    public var canWrite: Bool { self != .viewer }

    public var description: String {
        switch self {
        case .owner: "owner"
        case .admin: "admin"
        case .editor: "editor"
        case .viewer: "viewer"
        }
    }

    /// Parses `owner`, `admin`, `editor` or `viewer`.
    public init?(name: String) {
        guard let r = Role.allCases.first(where: { $0.description == name }) else { return nil }
        self = r
    }
}

/// A workspace the user belongs to, with the user's role in it.
public struct WorkspaceMembership: Sendable, Hashable {
    public var workspaceID: String
    public var role: Role
    public init(workspaceID: String, role: Role) {
        self.workspaceID = workspaceID
        self.role = role
    }
}

/// Limits the server applies to a connection.
public struct ConnectionLimits: Sendable, Hashable {
    public var maxMessageBytes: Int
    public var maxDocuments: Int
    public var updatesPerSecond: Int
    public init(maxMessageBytes: Int, maxDocuments: Int, updatesPerSecond: Int) {
        self.maxMessageBytes = maxMessageBytes
        self.maxDocuments = maxDocuments
        self.updatesPerSecond = updatesPerSecond
    }
}

/// A document and the state vector its holder has.
public struct DocumentState: Sendable, Hashable {
    public var documentID: String
    public var stateVector: [UInt8]
    public init(documentID: String, stateVector: [UInt8]) {
        self.documentID = documentID
        self.stateVector = stateVector
    }
}

/// A document changed since a catalog cursor, with its latest server sequence.
public struct CatalogEntry: Sendable, Hashable {
    public var documentID: String
    public var serverSeq: Int
    public init(documentID: String, serverSeq: Int) {
        self.documentID = documentID
        self.serverSeq = serverSeq
    }
}

/// One field of a device's push address, e.g. `endpoint` of a Web Push subscription.
public struct DeviceField: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One message of the Nest sync protocol v1 (PROTOCOL.md section 3).
public enum NestMessage: Sendable, Hashable {
    case hello(minVersion: Int, maxVersion: Int, client: String, token: String)
    case welcome(version: Int, userID: String, workspaces: [WorkspaceMembership], limits: ConnectionLimits, sessionID: String)
    case subscribe([DocumentState])
    case unsubscribe([String])
    case syncStep1(documentID: String, stateVector: [UInt8])
    case syncStep2(documentID: String, update: [UInt8])
    case update(documentID: String, clientSeq: Int, update: [UInt8])
    case ack(documentID: String, clientSeq: Int, serverSeq: Int)
    case refused(documentID: String, clientSeq: Int, code: ErrorCode, text: String)
    case broadcast(documentID: String, serverSeq: Int, update: [UInt8])
    case error(code: ErrorCode, text: String, documentID: String)
    case awareness(documentID: String, update: [UInt8])
    case catalogRequest(cursor: Int)
    case catalog(cursor: Int, entries: [CatalogEntry])
    case event(kind: String, documentID: String, payloadJSON: String)
    case ping(nonce: Int)
    case pong(nonce: Int)
    case reauth(token: String)
    /// Registers this device for pushes (PROTOCOL.md section 4.6): the provider and its address fields, and
    /// whether this connection shows notifications (then, while it is open, they come in-band instead of as pushes).
    case registerDevice(requestID: Int, provider: String, fields: [DeviceField], inBand: Bool)
    /// The device is registered under `deviceID`.
    case deviceRegistered(requestID: Int, deviceID: String)
    /// The registration was refused (`invalid_device`, `store_unavailable`).
    case deviceRefused(requestID: Int, code: ErrorCode, text: String)

    /// The protocol version this module implements.
    public static let version = 1

    /// The message type number on the wire.
    public var type: Int {
        switch self {
        case .hello: 0
        case .welcome: 1
        case .subscribe: 2
        case .unsubscribe: 3
        case .syncStep1: 4
        case .syncStep2: 5
        case .update: 6
        case .ack: 7
        case .refused: 8
        case .broadcast: 9
        case .error: 10
        case .awareness: 11
        case .catalogRequest: 12
        case .catalog: 13
        case .event: 14
        case .ping: 15
        case .pong: 16
        case .reauth: 17
        case .registerDevice: 18
        case .deviceRegistered: 19
        case .deviceRefused: 20
        }
    }

    /// The document a message concerns, if any.
    public var documentID: String? {
        switch self {
        case .syncStep1(let d, _), .syncStep2(let d, _), .update(let d, _, _), .ack(let d, _, _), .refused(let d, _, _, _),
             .broadcast(let d, _, _), .awareness(let d, _):
            return d
        case .error(_, _, let d), .event(_, let d, _):
            return d.isEmpty ? nil : d
        default:
            return nil
        }
    }
}
