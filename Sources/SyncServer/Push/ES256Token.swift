import Crypto
import SyncProtocol

/// A compact ES256 JWT over a header and claims given as JSON, with the
/// signature as the raw 64-byte r‖s that JWS asks for: what APNs provider
/// tokens and VAPID tokens both are.
enum ES256Token {
    static func sign(header: [UInt8], claims: [UInt8], with key: P256.Signing.PrivateKey) throws -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        let signature = try key.signature(for: Array(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(Array(signature))
    }
}

extension PushNotification {
    /// A key for replacing an earlier push of the same event and document
    /// (APNs' collapse id, Web Push's topic, FCM's collapse key): base64url
    /// of the first `bytes` of a SHA-256, so `4 · bytes / 3` characters.
    func collapseKey(bytes: Int) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array("\(event.rawValue):\(documentID)".utf8)).prefix(bytes)))
    }
}
