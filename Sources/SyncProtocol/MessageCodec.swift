import CRDT

extension NestMessage {
    /// The message as one binary WebSocket frame.
    public func encoded() -> [UInt8] {
        var e = Lib0Encoder(capacity: 32)
        e.writeVarUInt(type)
        switch self {
        case .hello(let minV, let maxV, let client, let token):
            e.writeVarUInt(minV)
            e.writeVarUInt(maxV)
            e.writeVarString(client)
            e.writeVarString(token)
        case .welcome(let version, let user, let workspaces, let limits, let session):
            e.writeVarUInt(version)
            e.writeVarString(user)
            e.writeVarUInt(workspaces.count)
            for w in workspaces {
                e.writeVarString(w.workspaceID)
                e.writeVarUInt(w.role.rawValue)
            }
            e.writeVarUInt(limits.maxMessageBytes)
            e.writeVarUInt(limits.maxDocuments)
            e.writeVarUInt(limits.updatesPerSecond)
            e.writeVarString(session)
        case .subscribe(let docs):
            e.writeVarUInt(docs.count)
            for d in docs {
                e.writeVarString(d.documentID)
                e.writeVarBytes(d.stateVector)
            }
        case .unsubscribe(let ids):
            e.writeVarUInt(ids.count)
            for id in ids { e.writeVarString(id) }
        case .syncStep1(let d, let sv):
            e.writeVarString(d)
            e.writeVarBytes(sv)
        case .syncStep2(let d, let u), .awareness(let d, let u):
            e.writeVarString(d)
            e.writeVarBytes(u)
        case .update(let d, let seq, let u):
            e.writeVarString(d)
            e.writeVarUInt(seq)
            e.writeVarBytes(u)
        case .ack(let d, let c, let s):
            e.writeVarString(d)
            e.writeVarUInt(c)
            e.writeVarUInt(s)
        case .refused(let d, let c, let code, let text):
            e.writeVarString(d)
            e.writeVarUInt(c)
            e.writeVarUInt(code.rawValue)
            e.writeVarString(text)
        case .broadcast(let d, let s, let u):
            e.writeVarString(d)
            e.writeVarUInt(s)
            e.writeVarBytes(u)
        case .error(let code, let text, let d):
            e.writeVarUInt(code.rawValue)
            e.writeVarString(text)
            e.writeVarString(d)
        case .catalogRequest(let cursor):
            e.writeVarUInt(cursor)
        case .catalog(let cursor, let entries):
            e.writeVarUInt(cursor)
            e.writeVarUInt(entries.count)
            for x in entries {
                e.writeVarString(x.documentID)
                e.writeVarUInt(x.serverSeq)
            }
        case .event(let kind, let d, let payload):
            e.writeVarString(kind)
            e.writeVarString(d)
            e.writeVarString(payload)
        case .ping(let n), .pong(let n):
            e.writeVarUInt(n)
        case .reauth(let token):
            e.writeVarString(token)
        case .registerDevice(let request, let provider, let fields, let inBand):
            e.writeVarUInt(request)
            e.writeVarString(provider)
            e.writeVarUInt(fields.count)
            for f in fields {
                e.writeVarString(f.name)
                e.writeVarString(f.value)
            }
            e.writeVarUInt(inBand ? 1 : 0)
        case .deviceRegistered(let request, let device):
            e.writeVarUInt(request)
            e.writeVarString(device)
        case .deviceRefused(let request, let code, let text):
            e.writeVarUInt(request)
            e.writeVarUInt(code.rawValue)
            e.writeVarString(text)
        }
        return e.finish()
    }

    /// Decodes one message. Anything but exactly one valid message throws
    /// ``SyncProtocolError`` with code `bad_message` and the byte offset.
    public init(decoding bytes: [UInt8]) throws(SyncProtocolError) {
        var d = Lib0Decoder(bytes)
        self = try SyncProtocolError.decoding {
            let m = try Self.decode(&d)
            try d.expectEnd()
            return m
        }
    }

    private static func decode(_ d: inout Lib0Decoder) throws -> NestMessage {
        let start = d.position
        let type = try d.readVarUInt()
        switch type {
        case 0:
            return .hello(minVersion: try d.readVarUInt(), maxVersion: try d.readVarUInt(), client: try d.readVarString(), token: try d.readVarString())
        case 1:
            let version = try d.readVarUInt()
            let user = try d.readVarString()
            let n = try d.readCount(minimumBytesEach: 2)
            var workspaces: [WorkspaceMembership] = []
            for _ in 0..<n {
                let id = try d.readVarString()
                let at = d.position
                guard let role = Role(rawValue: try d.readVarUInt()) else {
                    throw SyncProtocolError(.badMessage, offset: at, "unknown role")
                }
                workspaces.append(WorkspaceMembership(workspaceID: id, role: role))
            }
            let limits = ConnectionLimits(maxMessageBytes: try d.readVarUInt(), maxDocuments: try d.readVarUInt(), updatesPerSecond: try d.readVarUInt())
            return .welcome(version: version, userID: user, workspaces: workspaces, limits: limits, sessionID: try d.readVarString())
        case 2:
            let n = try d.readCount(minimumBytesEach: 2)
            var docs: [DocumentState] = []
            for _ in 0..<n { docs.append(DocumentState(documentID: try d.readVarString(), stateVector: try d.readVarBytes())) }
            return .subscribe(docs)
        case 3:
            let n = try d.readCount(minimumBytesEach: 1)
            var ids: [String] = []
            for _ in 0..<n { ids.append(try d.readVarString()) }
            return .unsubscribe(ids)
        case 4: return .syncStep1(documentID: try d.readVarString(), stateVector: try d.readVarBytes())
        case 5: return .syncStep2(documentID: try d.readVarString(), update: try d.readVarBytes())
        case 6: return .update(documentID: try d.readVarString(), clientSeq: try d.readVarUInt(), update: try d.readVarBytes())
        case 7: return .ack(documentID: try d.readVarString(), clientSeq: try d.readVarUInt(), serverSeq: try d.readVarUInt())
        case 8:
            return .refused(documentID: try d.readVarString(), clientSeq: try d.readVarUInt(), code: ErrorCode(rawValue: try d.readVarUInt()), text: try d.readVarString())
        case 9: return .broadcast(documentID: try d.readVarString(), serverSeq: try d.readVarUInt(), update: try d.readVarBytes())
        case 10: return .error(code: ErrorCode(rawValue: try d.readVarUInt()), text: try d.readVarString(), documentID: try d.readVarString())
        case 11: return .awareness(documentID: try d.readVarString(), update: try d.readVarBytes())
        case 12: return .catalogRequest(cursor: try d.readVarUInt())
        case 13:
            let cursor = try d.readVarUInt()
            let n = try d.readCount(minimumBytesEach: 2)
            var entries: [CatalogEntry] = []
            for _ in 0..<n { entries.append(CatalogEntry(documentID: try d.readVarString(), serverSeq: try d.readVarUInt())) }
            return .catalog(cursor: cursor, entries: entries)
        case 14: return .event(kind: try d.readVarString(), documentID: try d.readVarString(), payloadJSON: try d.readVarString())
        case 15: return .ping(nonce: try d.readVarUInt())
        case 16: return .pong(nonce: try d.readVarUInt())
        case 17: return .reauth(token: try d.readVarString())
        case 18:
            let request = try d.readVarUInt()
            let provider = try d.readVarString()
            let n = try d.readCount(minimumBytesEach: 2)
            var fields: [DeviceField] = []
            for _ in 0..<n { fields.append(DeviceField(try d.readVarString(), try d.readVarString())) }
            let at = d.position
            switch try d.readVarUInt() {
            case 0: return .registerDevice(requestID: request, provider: provider, fields: fields, inBand: false)
            case 1: return .registerDevice(requestID: request, provider: provider, fields: fields, inBand: true)
            default: throw SyncProtocolError(.badMessage, offset: at, "inBand must be 0 or 1")
            }
        case 19: return .deviceRegistered(requestID: try d.readVarUInt(), deviceID: try d.readVarString())
        case 20: return .deviceRefused(requestID: try d.readVarUInt(), code: ErrorCode(rawValue: try d.readVarUInt()), text: try d.readVarString())
        default:
            throw SyncProtocolError(.badMessage, offset: start, "unknown message type \(type)")
        }
    }
}
