public import Crypto
import Foundation
import Hummingbird
import HummingbirdHTTP2
import HTTPTypes
import Logging
import NIOCore
import NIOSSL
import Synchronization
import SwiftASN1
import X509

/// A local APNs for tests: HTTP/2 over TLS (ALPN `h2`) with a self-signed
/// certificate made here, checking every request against Apple's contract:
/// the ES256 provider token (signature with the test key, `kid`, `iss`,
/// `iat`), `apns-topic`, `apns-push-type` matching the payload, `apns-priority`
/// (5 for background), `apns-expiration`, `apns-collapse-id` ≤ 64 bytes,
/// payload ≤ 4,096 bytes. It answers 200 with `apns-id`, or what the script
/// names for a device token. Wrong requests are answered 400 and kept in
/// ``violations``.
public final class FakeAPNs: Sendable {
    /// A scripted answer for one device token.
    public enum Answer: Sendable {
        case ok
        /// A status with Apple's `{"reason": ...}` body (and `timestamp` for 410).
        case error(status: Int, reason: String, timestamp: Int64? = nil, retryAfter: Int? = nil)
    }

    /// A request as received.
    public struct Received: Sendable {
        public var deviceToken: String
        public var headers: [String: String]
        public var payload: [String: any Sendable]
        public var providerToken: String
        public var http2: Bool
        public var connection: ObjectIdentifier
    }

    public let teamID: String
    public let keyID: String
    private let publicKey: P256.Signing.PublicKey
    private let scripts = Mutex<[String: [Answer]]>([:])
    /// Provider tokens answered 403 ExpiredProviderToken.
    private let expiredTokens = Mutex<Set<String>>([])
    private let received = Mutex<[Received]>([])
    /// Provider tokens already verified: APNs checks a token once, not on every push it authorizes.
    private let verified = Mutex<Set<String>>([])
    private let problems = Mutex<[String]>([])
    private let boundPort = Mutex(0)
    private let stopper = Mutex<(@Sendable () -> Void)?>(nil)
    /// The self-signed certificate's PEM file (trust it as a root).
    public let certificateFile: String

    public init(teamID: String, keyID: String, publicKey: P256.Signing.PublicKey) {
        self.teamID = teamID
        self.keyID = keyID
        self.publicKey = publicKey
        certificateFile = FileManager.default.temporaryDirectory.appendingPathComponent("fake-apns-\(UUID().uuidString).pem").path
    }

    public var port: Int { boundPort.withLock { $0 } }
    public var baseURL: String { "https://127.0.0.1:\(port)" }
    public var requests: [Received] { received.withLock { $0 } }
    public var violations: [String] { problems.withLock { $0 } }

    /// Answers for the next requests to `deviceToken`, in order; then 200.
    public func script(_ deviceToken: String, _ answers: Answer...) { scripts.withLock { $0[deviceToken, default: []] += answers } }
    /// Answers requests carrying `token` with 403 ExpiredProviderToken.
    public func expire(providerToken: String) { _ = expiredTokens.withLock { $0.insert(providerToken) } }

    struct Context: RequestContext {
        var coreContext: CoreRequestContextStorage
        let connection: ObjectIdentifier
        let http2: Bool
        init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            // An HTTP/2 stream is a child channel of its connection's channel.
            connection = ObjectIdentifier(source.channel.parent ?? source.channel)
            http2 = source.channel.parent != nil
        }
    }

    public func start() async throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("localhost") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600, notValidAfter: now + 86400,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                // An IP address, not `localhost`: the fake listens on 127.0.0.1 only, and the name may resolve to ::1 first.
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        try pem.write(toFile: certificateFile, atomically: true, encoding: .utf8)
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))

        let router = Router(context: Context.self)
        router.post("/3/device/:token") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return self.answer(request, context: context, deviceToken: context.parameters.get("token") ?? "", body: Array(buffer: body))
        }
        let server = try await LocalServer.start(router, server: try .http2Upgrade(tlsConfiguration: tls), label: "fake-apns")
        boundPort.withLock { $0 = server.port }
        stopper.withLock { $0 = { server.stop() } }
    }

    public func stop() { stopper.withLock { $0?() } }

    private func header(_ request: Request, _ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }

    private func answer(_ request: Request, context: Context, deviceToken: String, body: [UInt8]) -> Response {
        var wrong: [String] = []
        let auth = header(request, "authorization") ?? ""
        let jwt = auth.hasPrefix("bearer ") ? String(auth.dropFirst(7)) : ""
        wrong += checkProviderToken(jwt)
        let payload = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        if body.count > 4096 { wrong.append("payload of \(body.count) bytes") }
        if payload.isEmpty { wrong.append("payload is not a JSON object") }
        let aps = payload["aps"] as? [String: Any] ?? [:]
        if header(request, "apns-topic")?.isEmpty != false { wrong.append("no apns-topic") }
        switch header(request, "apns-push-type") {
        case "alert":
            if aps["alert"] == nil { wrong.append("alert push without an alert") }
            if header(request, "apns-priority") != "10" { wrong.append("alert priority \(header(request, "apns-priority") ?? "none")") }
        case "background":
            if aps["content-available"] as? Int != 1 || aps["alert"] != nil || aps["sound"] != nil || aps["badge"] != nil {
                wrong.append("background push must carry content-available and nothing else in aps")
            }
            if header(request, "apns-priority") != "5" { wrong.append("background priority must be 5") }
        default: wrong.append("apns-push-type \(header(request, "apns-push-type") ?? "missing")")
        }
        if Int64(header(request, "apns-expiration") ?? "x") == nil { wrong.append("apns-expiration not a number") }
        if let c = header(request, "apns-collapse-id"), c.utf8.count > 64 { wrong.append("apns-collapse-id over 64 bytes") }
        if !deviceToken.allSatisfy(\.isHexDigit) { wrong.append("device token \(deviceToken) is not hex") }
        let headers = Dictionary(request.headers.map { ($0.name.canonicalName, $0.value) }, uniquingKeysWith: { a, _ in a })
        received.withLock { $0.append(Received(deviceToken: deviceToken, headers: headers, payload: payload.mapValues { "\($0)" },
                                                providerToken: jwt, http2: context.http2, connection: context.connection)) }
        if !wrong.isEmpty {
            problems.withLock { $0 += wrong }
            return Self.error(400, "BadRequest")
        }
        if expiredTokens.withLock({ $0.contains(jwt) }) { return Self.error(403, "ExpiredProviderToken") }
        let next = scripts.withLock { s -> Answer in
            guard var list = s[deviceToken], !list.isEmpty else { return .ok }
            let a = list.removeFirst()
            s[deviceToken] = list
            return a
        }
        switch next {
        case .ok:
            return Response(status: .ok, headers: [HTTPField.Name("apns-id")!: UUID().uuidString])
        case .error(let status, let reason, let timestamp, let retryAfter):
            var r = Self.error(status, reason, timestamp: timestamp)
            if let retryAfter { r.headers[HTTPField.Name("retry-after")!] = String(retryAfter) }
            return r
        }
    }

    private static func error(_ status: Int, _ reason: String, timestamp: Int64? = nil) -> Response {
        let json = timestamp.map { #"{"reason":"\#(reason)","timestamp":\#($0)}"# } ?? #"{"reason":"\#(reason)"}"#
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    /// Checks an ES256 provider token as Apple does; returns what is wrong.
    private func checkProviderToken(_ jwt: String) -> [String] {
        if verified.withLock({ $0.contains(jwt) }) { return [] }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let h = Self.unb64(parts[0]), let c = Self.unb64(parts[1]), let s = Self.unb64(parts[2]) else { return ["provider token is not a JWT"] }
        var wrong: [String] = []
        let header = (try? JSONSerialization.jsonObject(with: Data(h))) as? [String: Any] ?? [:]
        let claims = (try? JSONSerialization.jsonObject(with: Data(c))) as? [String: Any] ?? [:]
        if header["alg"] as? String != "ES256" { wrong.append("alg \(header["alg"] ?? "none")") }
        if header["kid"] as? String != keyID { wrong.append("kid \(header["kid"] ?? "none")") }
        if claims["iss"] as? String != teamID { wrong.append("iss \(claims["iss"] ?? "none")") }
        if let iat = (claims["iat"] as? NSNumber)?.doubleValue {
            if iat > Date().timeIntervalSince1970 + 60 { wrong.append("iat in the future") }
        } else { wrong.append("no iat") }
        let signed = Array("\(parts[0]).\(parts[1])".utf8)
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: s), publicKey.isValidSignature(signature, for: signed) else {
            return wrong + ["provider token signature does not verify with the team's key"]
        }
        if wrong.isEmpty { _ = verified.withLock { $0.insert(jwt) } }
        return wrong
    }

    static func unb64(_ s: Substring) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map(Array.init)
    }
}
