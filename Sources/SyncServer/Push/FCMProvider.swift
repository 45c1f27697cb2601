public import AsyncHTTPClient
public import Foundation
import JWTKit
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SyncProtocol

/// A Google service account, as its JSON key file holds it.
public struct FCMServiceAccount: Sendable, Decodable {
    public var projectID: String
    public var privateKeyID: String
    public var privateKey: String
    public var clientEmail: String
    public var tokenURI: String

    enum CodingKeys: String, CodingKey {
        case projectID = "project_id", privateKeyID = "private_key_id", privateKey = "private_key", clientEmail = "client_email", tokenURI = "token_uri"
    }

    public static func load(file: String) throws -> FCMServiceAccount {
        do { return try JSONDecoder().decode(FCMServiceAccount.self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
            throw ServerStartError(description: "cannot read the FCM service account \(file) (project_id, private_key_id, private_key, client_email, token_uri): \(error)")
        }
    }
}

/// The OAuth access token FCM calls carry: an RS256 assertion signed with the
/// service account's key, exchanged at its `token_uri`; kept until five
/// minutes before it expires, and made again once when FCM answers 401.
actor FCMAccessToken {
    private struct Assertion: JWTPayload {
        var iss: IssuerClaim
        var scope: String
        var aud: AudienceClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private let account: FCMServiceAccount
    private let http: HTTPClient
    private let keys = JWTKeyCollection()
    private let now: @Sendable () -> Date
    private var current: (token: String, refreshAt: Date)?
    private var keyAdded = false

    init(account: FCMServiceAccount, http: HTTPClient, now: @escaping @Sendable () -> Date) {
        self.account = account
        self.http = http
        self.now = now
    }

    /// A valid access token; `forceNew` after a 401 for `rejected`.
    func token(replacing rejected: String? = nil) async throws -> String {
        if let c = current, now() < c.refreshAt, c.token != rejected { return c.token }
        if !keyAdded {
            await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: account.privateKey), digestAlgorithm: .sha256, kid: JWKIdentifier(string: account.privateKeyID))
            keyAdded = true
        }
        let t = now()
        let assertion = try await keys.sign(Assertion(iss: .init(value: account.clientEmail), scope: "https://www.googleapis.com/auth/firebase.messaging",
                                                      aud: .init(value: account.tokenURI), iat: .init(value: t), exp: .init(value: t.addingTimeInterval(3600))),
                                            kid: JWKIdentifier(string: account.privateKeyID))
        var request = HTTPClientRequest(url: account.tokenURI)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=\(assertion)"))
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 10)
        guard response.status.code == 200,
              let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
              let token = json["access_token"] as? String else {
            throw FCMTokenError(description: "the token endpoint answered \(response.status.code): \(String(buffer: body).prefix(200))")
        }
        let lifetime = (json["expires_in"] as? NSNumber)?.doubleValue ?? 3600
        current = (token, t.addingTimeInterval(max(60, lifetime - 300)))
        return token
    }
}

struct FCMTokenError: Error, CustomStringConvertible {
    var description: String
}

/// Firebase Cloud Messaging HTTP v1 (Android, and iOS through FCM).
public struct FCMProvider: PushProvider {
    let http: HTTPClient
    let account: FCMServiceAccount
    private let accessToken: FCMAccessToken
    /// Overrides `https://fcm.googleapis.com` (a local FCM for tests).
    let baseURL: String
    let timeout: TimeAmount

    public init(http: HTTPClient, account: FCMServiceAccount, baseURL: String? = nil, timeout: TimeAmount = .seconds(10),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.http = http
        self.account = account
        self.baseURL = baseURL ?? "https://fcm.googleapis.com"
        self.timeout = timeout
        accessToken = FCMAccessToken(account: account, http: http, now: now)
    }

    public func send(_ n: PushNotification, to device: RegisteredDevice) async -> PushOutcome {
        guard case .fcm(let registration) = device.address else { return .failed("not an FCM device") }
        var rejected: String?
        for _ in 0..<2 {
            let bearer: String
            do { bearer = try await accessToken.token(replacing: rejected) } catch { return .retry("FCM access token: \(error)", after: nil) }
            var request = HTTPClientRequest(url: "\(baseURL)/v1/projects/\(account.projectID)/messages:send")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Self.body(n, token: registration)))
            let status: UInt, headers: HTTPHeaders, body: ByteBuffer
            do {
                let response = try await http.execute(request, timeout: timeout)
                (status, headers) = (response.status.code, response.headers)
                body = try await response.body.collect(upTo: 64 << 10)
            } catch {
                return .retry("request failed: \(error)", after: nil)
            }
            if status == 200 {
                let name = ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["name"] as? String
                return .delivered(name ?? "200")
            }
            if status == 401, rejected == nil {
                rejected = bearer
                continue
            }
            let code = Self.errorCode(body) ?? "status \(status)"
            let retryAfter = RetryAfterHeader.parse(headers.first(name: "Retry-After"))
            switch code {
            case "UNREGISTERED", "SENDER_ID_MISMATCH": return .gone(code, since: nil)
            case "QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL": return .retry(code, after: retryAfter)
            case "THIRD_PARTY_AUTH_ERROR": return .failed("\(code): the APNs credentials in Firebase were refused")
            default: return status >= 500 ? .retry(code, after: retryAfter) : .failed(code)
            }
        }
        return .failed("401: FCM refused a fresh access token; check NEST_FCM_SERVICE_ACCOUNT")
    }

    /// The v1 message: a notification (or none, for a silent push), `data` values as strings, Android and APNs overrides.
    static func body(_ n: PushNotification, token: String) -> [UInt8] {
        let collapse = n.collapseKey(bytes: 24)
        var message: [String: Any] = [
            "token": token,
            "data": ["event": n.event.rawValue, "documentID": n.documentID, "actor": n.actor],
            "android": ["collapse_key": collapse, "priority": n.event.isSilent ? "normal" : "high", "ttl": n.event.isSilent ? "3600s" : "86400s"],
        ]
        if n.event.isSilent {
            message["apns"] = ["headers": ["apns-push-type": "background", "apns-priority": "5"], "payload": ["aps": ["content-available": 1]]]
        } else {
            message["notification"] = ["title": n.title, "body": n.body]
            message["apns"] = ["headers": ["apns-push-type": "alert", "apns-priority": "10", "apns-collapse-id": collapse],
                               "payload": ["aps": ["thread-id": n.documentID, "sound": "default"]]]
        }
        return Array((try? JSONSerialization.data(withJSONObject: ["message": message], options: [.sortedKeys])) ?? Data())
    }

    /// `error.details[].errorCode` of an FCM error answer (else its `error.status`).
    static func errorCode(_ body: ByteBuffer) -> String? {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any], let error = json["error"] as? [String: Any] else { return nil }
        for d in error["details"] as? [[String: Any]] ?? [] {
            if let code = d["errorCode"] as? String { return code }
        }
        return error["status"] as? String
    }
}
