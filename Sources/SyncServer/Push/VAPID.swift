public import Crypto
public import Foundation
import SyncProtocol
import Synchronization

/// RFC 8292 voluntary application server identification: an ES256 JWT for
/// the push service's origin, sent with the server's public key.
public struct VAPID: Sendable {
    public let key: P256.Signing.PrivateKey
    /// `mailto:` or `https:` contact for the push service's operator.
    public let subject: String

    public init(key: P256.Signing.PrivateKey, subject: String) {
        self.key = key
        self.subject = subject
    }

    /// Reads the private key from a PEM file (SEC 1 or PKCS #8).
    public static func load(keyFile: String, subject: String) throws -> VAPID {
        let pem: String
        do { pem = try String(contentsOfFile: keyFile, encoding: .utf8) } catch {
            throw ServerStartError(description: "cannot read the VAPID key file \(keyFile): \(error.localizedDescription)")
        }
        do { return VAPID(key: try P256.Signing.PrivateKey(pemRepresentation: pem), subject: subject) } catch {
            throw ServerStartError(description: "the VAPID key file \(keyFile) holds no P-256 private key in PEM")
        }
    }

    /// A new key, and its PEM (PKCS #8) to keep in a file.
    public static func generate() -> (vapid: VAPID, pem: String) {
        let key = P256.Signing.PrivateKey()
        return (VAPID(key: key, subject: "mailto:push@localhost"), key.pemRepresentation)
    }

    /// The public key as the `k` parameter and browsers' `applicationServerKey` take it.
    public var publicKeyBase64URL: String { Base64URL.encode(Array(key.publicKey.x963Representation)) }

    /// The `Authorization` header for a request to `endpoint`, valid for 12 hours from `now`.
    public func authorization(endpoint: URL, now: Date = Date()) throws -> String {
        try authorization(origin: Self.origin(of: endpoint), now: now)
    }

    /// The push service's origin, the token's audience: scheme, host and port of the endpoint.
    static func origin(of endpoint: URL) throws -> String {
        guard let scheme = endpoint.scheme, let host = endpoint.host else { throw WebPushEncryption.Failure(description: "the endpoint has no origin") }
        return "\(scheme)://\(host)" + (endpoint.port.map { ":\($0)" } ?? "")
    }

    func authorization(origin: String, now: Date) throws -> String {
        let header = #"{"typ":"JWT","alg":"ES256"}"#
        let claims = try JSONSerialization.data(withJSONObject: ["aud": origin, "exp": Int(now.timeIntervalSince1970) + 12 * 3600, "sub": subject], options: [.sortedKeys])
        return "vapid t=\(try ES256Token.sign(header: Array(header.utf8), claims: Array(claims), with: key)), k=\(publicKeyBase64URL)"
    }
}

/// VAPID headers reused per push service: a token is good for 12 hours, and
/// signing one for every message would make ECDSA the largest cost of a
/// delivery. A header is reused for at most an hour, so it always has hours
/// of validity left when the push service checks it.
final class VAPIDHeaders: Sendable {
    private let vapid: VAPID
    private let reuseFor: TimeInterval
    private let cache = Mutex<[String: (header: String, issued: Date)]>([:])

    init(vapid: VAPID, reuseFor: TimeInterval = 3600) {
        self.vapid = vapid
        self.reuseFor = reuseFor
    }

    func header(for endpoint: URL, now: Date = Date()) throws -> String {
        let origin = try VAPID.origin(of: endpoint)
        if let kept = cache.withLock({ $0[origin] }), now.timeIntervalSince(kept.issued) < reuseFor, now >= kept.issued { return kept.header }
        let header = try vapid.authorization(origin: origin, now: now)
        cache.withLock { $0[origin] = (header, now) }
        return header
    }
}
