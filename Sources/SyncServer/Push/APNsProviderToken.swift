public import Crypto
public import Foundation
import Synchronization
import SyncProtocol

/// The ES256 provider token APNs authenticates us by (`kid` the key's id,
/// `iss` the team, `iat` when made). One token is reused for 40 minutes:
/// Apple refuses tokens older than an hour and throttles ones made more often
/// than every 20 minutes.
public final class APNsProviderToken: Sendable {
    public let key: P256.Signing.PrivateKey
    public let keyID: String
    public let teamID: String
    /// How long one token is used. Default 40 minutes (Apple: at least 20, at most 60).
    let lifetime: TimeInterval
    private let now: @Sendable () -> Date
    private let current = Mutex<(token: String, madeAt: Date)?>(nil)

    public init(key: P256.Signing.PrivateKey, keyID: String, teamID: String, lifetime: TimeInterval = 40 * 60,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.key = key
        self.keyID = keyID
        self.teamID = teamID
        self.lifetime = lifetime
        self.now = now
    }

    /// Reads the `.p8` key Apple gives (PKCS #8 PEM).
    public static func load(keyFile: String, keyID: String, teamID: String) throws -> APNsProviderToken {
        let pem: String
        do { pem = try String(contentsOfFile: keyFile, encoding: .utf8) } catch {
            throw ServerStartError(description: "cannot read the APNs key file \(keyFile): \(error.localizedDescription)")
        }
        do { return APNsProviderToken(key: try P256.Signing.PrivateKey(pemRepresentation: pem), keyID: keyID, teamID: teamID) } catch {
            throw ServerStartError(description: "the APNs key file \(keyFile) holds no P-256 private key in PEM (the .p8 file from Apple)")
        }
    }

    /// The token to send: the current one, or a new one when it is `lifetime` old.
    public func token() -> String {
        let t = now()
        return current.withLock { c in
            if let c, t.timeIntervalSince(c.madeAt) < lifetime { return c.token }
            let made = (make(at: t), t)
            c = made
            return made.0
        }
    }

    /// Replaces the token after APNs said it expired, unless another request already did since `rejected` was handed out.
    public func renew(rejected: String) -> String {
        let t = now()
        return current.withLock { c in
            if let c, c.token != rejected { return c.token }
            let made = (make(at: t), t)
            c = made
            return made.0
        }
    }

    private func make(at date: Date) -> String {
        let header = #"{"alg":"ES256","kid":"\#(keyID)"}"#
        let claims = #"{"iss":"\#(teamID)","iat":\#(Int(date.timeIntervalSince1970))}"#
        // Signing with a valid P-256 key does not fail.
        return (try? ES256Token.sign(header: Array(header.utf8), claims: Array(claims.utf8), with: key)) ?? ""
    }
}
