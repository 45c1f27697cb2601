import CRDT

/// A message of the plain y-websocket protocol (`yjs-format.md` section 8),
/// spoken on `/v1/yjs/{documentID}` so that stock Yjs peers can sync.
public enum YWebSocketMessage: Sendable, Hashable {
    case syncStep1(stateVector: [UInt8])
    case syncStep2(update: [UInt8])
    case update([UInt8])
    case awareness([UInt8])
    case queryAwareness
    case authPermissionDenied(reason: String)

    public func encoded() -> [UInt8] {
        var e = Lib0Encoder(capacity: 16)
        switch self {
        case .syncStep1(let sv):
            e.writeVarUInt(0); e.writeVarUInt(0); e.writeVarBytes(sv)
        case .syncStep2(let u):
            e.writeVarUInt(0); e.writeVarUInt(1); e.writeVarBytes(u)
        case .update(let u):
            e.writeVarUInt(0); e.writeVarUInt(2); e.writeVarBytes(u)
        case .awareness(let a):
            e.writeVarUInt(1); e.writeVarBytes(a)
        case .queryAwareness:
            e.writeVarUInt(3)
        case .authPermissionDenied(let reason):
            e.writeVarUInt(2); e.writeVarUInt(0); e.writeVarString(reason)
        }
        return e.finish()
    }

    /// Decodes one y-websocket message; anything else throws `bad_message`.
    public init(decoding bytes: [UInt8]) throws(SyncProtocolError) {
        var d = Lib0Decoder(bytes)
        self = try SyncProtocolError.decoding {
            let message: YWebSocketMessage
            let type = try d.readVarUInt()
            switch type {
            case 0:
                let sub = try d.readVarUInt()
                switch sub {
                case 0: message = .syncStep1(stateVector: try d.readVarBytes())
                case 1: message = .syncStep2(update: try d.readVarBytes())
                case 2: message = .update(try d.readVarBytes())
                default: throw SyncProtocolError(.badMessage, offset: 1, "unknown sync message \(sub)")
                }
            case 1: message = .awareness(try d.readVarBytes())
            case 2:
                let sub = try d.readVarUInt()
                guard sub == 0 else { throw SyncProtocolError(.badMessage, offset: 1, "unknown auth message \(sub)") }
                message = .authPermissionDenied(reason: try d.readVarString())
            case 3: message = .queryAwareness
            default: throw SyncProtocolError(.badMessage, offset: 0, "unknown message type \(type)")
            }
            try d.expectEnd()
            return message
        }
    }
}
