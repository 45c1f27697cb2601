import _CryptoExtras
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NIOFoundationCompat
import Synchronization

/// A local FCM HTTP v1 for tests, with its OAuth token endpoint. The token
/// endpoint verifies the RS256 assertion with the service account's public
/// key (`kid`, `iss`, `scope`, `aud`, `exp` at most an hour after `iat`) and
/// issues access tokens; the send endpoint checks the bearer, the message's
/// types (`data` values are strings) and answers 200 with a message name, or
/// the scripted FCM error for a registration token.
public final class FakeFCM: Sendable {
    public enum Answer: Sendable {
        case ok
        case error(status: Int, errorCode: String, retryAfter: Int? = nil)
    }

    public let project = "nest-test"
    public let clientEmail = "push@nest-test.iam.gserviceaccount.com"
    public let keyID = "key-1"
    private let key: _RSA.Signing.PrivateKey
    private let issued = Mutex<[String]>([])
    private let revoked = Mutex<Set<String>>([])
    private let scripts = Mutex<[String: [Answer]]>([:])
    private let sent = Mutex<[[String: any Sendable]]>([])
    private let problems = Mutex<[String]>([])
    private let boundPort = Mutex(0)
    private let stopper = Mutex<(@Sendable () -> Void)?>(nil)

    public init() throws { key = try _RSA.Signing.PrivateKey(keySize: .bits2048) }

    public var port: Int { boundPort.withLock { $0 } }
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var violations: [String] { problems.withLock { $0 } }
    /// Access tokens issued so far.
    public var accessTokens: [String] { issued.withLock { $0 } }
    /// Messages accepted, as JSON objects.
    public var messages: [[String: any Sendable]] { sent.withLock { $0 } }

    /// The service account JSON key file FCM's console hands out, for this fake.
    public var serviceAccountJSON: String {
        let o: [String: String] = ["type": "service_account", "project_id": project, "private_key_id": keyID, "private_key": key.pkcs8PEMRepresentation,
                                   "client_email": clientEmail, "token_uri": "\(baseURL)/token"]
        return String(decoding: (try? JSONSerialization.data(withJSONObject: o)) ?? Data(), as: UTF8.self)
    }

    public func script(_ registration: String, _ answers: Answer...) { scripts.withLock { $0[registration, default: []] += answers } }
    /// Access tokens issued so far stop working (FCM answers 401).
    public func revokeAccessTokens() { revoked.withLock { $0.formUnion(accessTokens) } }

    public func start() async throws {
        let router = Router()
        router.post("/token") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 64 << 10))
            return self.token(body)
        }
        router.post("/v1/projects/:project/:call") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return self.send(request, project: context.parameters.get("project") ?? "", call: context.parameters.get("call") ?? "", body: Data(buffer: body))
        }
        let server = try await LocalServer.start(router, label: "fake-fcm")
        boundPort.withLock { $0 = server.port }
        stopper.withLock { $0 = { server.stop() } }
    }

    public func stop() { stopper.withLock { $0?() } }

    private func refuse(_ what: String, status: HTTPResponse.Status = .badRequest) -> Response {
        problems.withLock { $0.append(what) }
        return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: #"{"error":"invalid_grant","error_description":"\#(what)"}"#)))
    }

    private func token(_ form: String) -> Response {
        var fields: [String: String] = [:]
        for pair in form.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            if kv.count == 2 { fields[kv[0]] = kv[1] }
        }
        guard fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", let jwt = fields["assertion"] else { return refuse("bad grant") }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let h = FakeAPNs.unb64(parts[0]), let c = FakeAPNs.unb64(parts[1]), let s = FakeAPNs.unb64(parts[2]) else { return refuse("assertion is not a JWT") }
        let header = (try? JSONSerialization.jsonObject(with: Data(h))) as? [String: Any] ?? [:]
        let claims = (try? JSONSerialization.jsonObject(with: Data(c))) as? [String: Any] ?? [:]
        guard header["alg"] as? String == "RS256", header["kid"] as? String == keyID else { return refuse("header \(header)") }
        guard key.publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: s), for: Array("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5) else {
            return refuse("assertion signature does not verify")
        }
        let iat = (claims["iat"] as? NSNumber)?.doubleValue ?? 0, exp = (claims["exp"] as? NSNumber)?.doubleValue ?? 0
        guard claims["iss"] as? String == clientEmail, claims["scope"] as? String == "https://www.googleapis.com/auth/firebase.messaging",
              claims["aud"] as? String == "\(baseURL)/token", exp > iat, exp - iat <= 3600, exp > Date().timeIntervalSince1970 else {
            return refuse("claims \(claims)")
        }
        let token = "ya29.fake-\(issued.withLock { list -> Int in list.append("ya29.fake-\(list.count + 1)"); return list.count })"
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: #"{"access_token":"\#(token)","expires_in":3599,"token_type":"Bearer"}"#)))
    }

    private func send(_ request: Request, project: String, call: String, body: Data) -> Response {
        guard project == self.project, call == "messages:send" else { return refuse("path \(project)/\(call)", status: .notFound) }
        let bearer = (request.headers[.authorization] ?? "").replacingOccurrences(of: "Bearer ", with: "")
        guard issued.withLock({ $0.contains(bearer) }), !revoked.withLock({ $0.contains(bearer) }) else {
            return Self.fcmError(401, status: "UNAUTHENTICATED", code: nil)
        }
        guard let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any], let message = json["message"] as? [String: Any],
              let registration = message["token"] as? String else { return refuse("no message.token") }
        var wrong: [String] = []
        if let data = message["data"] as? [String: Any], data.values.contains(where: { !($0 is String) }) { wrong.append("data values must be strings") }
        if let n = message["notification"] as? [String: Any], !(n["title"] is String) || !(n["body"] is String) { wrong.append("notification title/body") }
        if (message["android"] as? [String: Any])?["collapse_key"] == nil { wrong.append("no android.collapse_key") }
        if !wrong.isEmpty { return refuse(wrong.joined(separator: "; ")) }
        let next = scripts.withLock { s -> Answer in
            guard var list = s[registration], !list.isEmpty else { return .ok }
            let a = list.removeFirst()
            s[registration] = list
            return a
        }
        switch next {
        case .ok:
            let n = sent.withLock { list -> Int in list.append(message.mapValues { "\($0)" }); return list.count }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"name":"projects/\#(project)/messages/\#(n)"}"#)))
        case .error(let status, let code, let retryAfter):
            var r = Self.fcmError(status, status: code, code: code)
            if let retryAfter { r.headers[HTTPField.Name("Retry-After")!] = String(retryAfter) }
            return r
        }
    }

    private static func fcmError(_ http: Int, status: String, code: String?) -> Response {
        let details = code.map { #","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"\#($0)"}]"# } ?? ""
        let json = #"{"error":{"code":\#(http),"message":"scripted","status":"\#(status)"\#(details)}}"#
        return Response(status: .init(code: http), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
