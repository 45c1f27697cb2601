import Testing
import Foundation
import CRDT
import SyncProtocol

/// The golden vectors of Protocol/vectors (written by an independent encoder
/// from PROTOCOL.md) and the y-websocket vectors of the shared Yjs spec.
@Suite("protocol vectors")
struct MessageVectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the clone, or `NEST_SHARED_DIR`.
    static var shared: URL {
        if let env = ProcessInfo.processInfo.environment["NEST_SHARED_DIR"], !env.isEmpty { return URL(fileURLWithPath: env) }
        return root.deletingLastPathComponent().appendingPathComponent("shared")
    }

    static func load(_ path: String) throws -> YAny {
        let url = path.hasPrefix("shared/") ? shared.appendingPathComponent(String(path.dropFirst(7))) : root.appendingPathComponent(path)
        return try JSONText.parse(bytes: [UInt8](Data(contentsOf: url)))
    }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16) ?? 0)
            i = j
        }
        return out
    }

    static func int(_ v: YAny?) -> Int { Int(v?.doubleValue ?? -1) }
    static func str(_ v: YAny?) -> String { v?.stringValue ?? "<missing>" }
    static func bytes(_ v: YAny?) -> [UInt8] { unhex(str(v)) }
    static func list(_ v: YAny?) -> [YAny] { if case .array(let a)? = v { a } else { [] } }

    /// Builds the expected message from a vector's `message` fields.
    static func message(_ m: YAny) -> NestMessage? {
        switch str(m["type"]) {
        case "hello": return .hello(minVersion: int(m["minVersion"]), maxVersion: int(m["maxVersion"]), client: str(m["client"]), token: str(m["token"]))
        case "welcome":
            let ws = list(m["workspaces"]).map { w in
                WorkspaceMembership(workspaceID: str(list(w)[0]), role: Role(name: str(list(w)[1])) ?? .viewer)
            }
            let l = list(m["limits"]).map { int($0) }
            return .welcome(version: int(m["version"]), userID: str(m["userID"]), workspaces: ws,
                            limits: ConnectionLimits(maxMessageBytes: l[0], maxDocuments: l[1], updatesPerSecond: l[2]), sessionID: str(m["sessionID"]))
        case "subscribe": return .subscribe(list(m["documents"]).map { DocumentState(documentID: str(list($0)[0]), stateVector: bytes(list($0)[1])) })
        case "unsubscribe": return .unsubscribe(list(m["documents"]).map { str($0) })
        case "syncStep1": return .syncStep1(documentID: str(m["documentID"]), stateVector: bytes(m["stateVector"]))
        case "syncStep2": return .syncStep2(documentID: str(m["documentID"]), update: bytes(m["update"]))
        case "update": return .update(documentID: str(m["documentID"]), clientSeq: int(m["clientSeq"]), update: bytes(m["update"]))
        case "ack": return .ack(documentID: str(m["documentID"]), clientSeq: int(m["clientSeq"]), serverSeq: int(m["serverSeq"]))
        case "refused": return .refused(documentID: str(m["documentID"]), clientSeq: int(m["clientSeq"]), code: ErrorCode(rawValue: int(m["code"])), text: str(m["text"]))
        case "broadcast": return .broadcast(documentID: str(m["documentID"]), serverSeq: int(m["serverSeq"]), update: bytes(m["update"]))
        case "error": return .error(code: ErrorCode(rawValue: int(m["code"])), text: str(m["text"]), documentID: str(m["documentID"]))
        case "awareness": return .awareness(documentID: str(m["documentID"]), update: bytes(m["update"]))
        case "catalogRequest": return .catalogRequest(cursor: int(m["cursor"]))
        case "catalog": return .catalog(cursor: int(m["cursor"]), entries: list(m["entries"]).map { CatalogEntry(documentID: str(list($0)[0]), serverSeq: int(list($0)[1])) })
        case "event": return .event(kind: str(m["kind"]), documentID: str(m["documentID"]), payloadJSON: str(m["payloadJSON"]))
        case "ping": return .ping(nonce: int(m["nonce"]))
        case "pong": return .pong(nonce: int(m["nonce"]))
        case "reauth": return .reauth(token: str(m["token"]))
        case "registerDevice":
            return .registerDevice(requestID: int(m["requestID"]), provider: str(m["provider"]),
                                   fields: list(m["fields"]).map { DeviceField(str(list($0)[0]), str(list($0)[1])) }, inBand: m["inBand"] == .bool(true))
        case "deviceRegistered": return .deviceRegistered(requestID: int(m["requestID"]), deviceID: str(m["deviceID"]))
        case "deviceRefused": return .deviceRefused(requestID: int(m["requestID"]), code: ErrorCode(rawValue: int(m["code"])), text: str(m["text"]))
        default: return nil
        }
    }

    @Test("every valid vector decodes to its fields and re-encodes to its bytes")
    func valid() throws {
        let v = try Self.load("Protocol/vectors/messages.json")
        let cases = Self.list(v["valid"])
        #expect(cases.count == 23)
        var types = Set<Int>()
        for c in cases {
            let name = Self.str(c["name"])
            guard let expected = Self.message(c["message"] ?? .null) else { Issue.record("\(name): unknown type"); continue }
            let bytes = Self.bytes(c["hex"])
            #expect(try NestMessage(decoding: bytes) == expected, "\(name)")
            #expect(expected.encoded() == bytes, "\(name)")
            types.insert(expected.type)
        }
        #expect(types == Set(0...20), "every message type has a vector")
    }

    @Test("invalid vectors are refused with bad_message and an offset where known")
    func invalid() throws {
        let v = try Self.load("Protocol/vectors/messages.json")
        for c in Self.list(v["invalid"]) {
            do {
                let m = try NestMessage(decoding: Self.bytes(c["hex"]))
                Issue.record("\(Self.str(c["name"])): decoded as \(m)")
            } catch {
                #expect(error.code == .badMessage, "\(Self.str(c["name"]))")
            }
        }
    }

    @Test("y-websocket messages of the shared spec decode and re-encode")
    func yWebSocket() throws {
        let sync = try Self.load("shared/spec/vectors/sync_protocol.json")
        let awareness = try Self.load("shared/spec/vectors/awareness_protocol.json")
        let fields: [(YAny, String)] = [
            (sync, "msg_client_step1_hex"), (sync, "msg_server_step2_hex"), (sync, "msg_server_step1_hex"),
            (sync, "msg_client_step2_hex"), (sync, "msg_client_update_hex"), (awareness, "msg_awareness_hex"),
            (awareness, "msg_query_awareness_hex"), (awareness, "msg_auth_denied_hex"),
        ]
        for (vector, field) in fields {
            let bytes = Self.bytes(vector[field])
            #expect(!bytes.isEmpty, "\(field)")
            let m = try YWebSocketMessage(decoding: bytes)
            #expect(m.encoded() == bytes, "\(field)")
        }
        #expect(try YWebSocketMessage(decoding: Self.bytes(sync["msg_client_step1_hex"])) == .syncStep1(stateVector: [0]))
        #expect(try YWebSocketMessage(decoding: Self.bytes(awareness["msg_auth_denied_hex"])) == .authPermissionDenied(reason: "read-only document"))
    }

    @Test("random bytes never crash the decoders (seeded)", arguments: [1, 2, 3] as [UInt64])
    func fuzz(seed: UInt64) {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var decoded = 0
        for _ in 0..<20_000 {
            let bytes = (0..<Int(next() % 24)).map { _ in UInt8(truncatingIfNeeded: next()) }
            if let m = try? NestMessage(decoding: bytes) {
                decoded += 1
                #expect(m.encoded().count <= bytes.count, "seed \(seed): \(m)")
            }
            _ = try? YWebSocketMessage(decoding: bytes)
        }
        #expect(decoded < 20_000)
    }
}
