public import AsyncHTTPClient
public import Foundation
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SyncProtocol

/// Apple Push Notification service over HTTP/2 (TLS, ALPN `h2`; AsyncHTTPClient
/// multiplexes every push on one connection per host), authenticated by an
/// ES256 provider token.
public struct APNsProvider: PushProvider {
    let http: HTTPClient
    let token: APNsProviderToken
    /// Overrides both Apple hosts (a local APNs for tests); nil: Apple's.
    let baseURL: String?
    let timeout: TimeAmount
    let now: @Sendable () -> Date

    public init(http: HTTPClient, token: APNsProviderToken, baseURL: String? = nil, timeout: TimeAmount = .seconds(10),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.http = http
        self.token = token
        self.baseURL = baseURL
        self.timeout = timeout
        self.now = now
    }

    /// Apple's limit on a payload.
    static let maxPayloadBytes = 4096

    public func send(_ n: PushNotification, to device: RegisteredDevice) async -> PushOutcome {
        guard case .apns(let deviceToken, let topic, let sandbox) = device.address else { return .failed("not an APNs device") }
        guard let payload = Self.payload(n) else { return .failed("the payload is over \(Self.maxPayloadBytes) bytes") }
        let base = baseURL ?? (sandbox ? "https://api.development.push.apple.com" : "https://api.push.apple.com")
        var bearer = token.token()
        // One new token and one more try when APNs says the token expired.
        for renewed in [false, true] {
            var request = HTTPClientRequest(url: "\(base)/3/device/\(deviceToken)")
            request.method = .POST
            request.headers.add(name: "authorization", value: "bearer \(bearer)")
            request.headers.add(name: "apns-topic", value: topic)
            request.headers.add(name: "apns-push-type", value: n.event.isSilent ? "background" : "alert")
            request.headers.add(name: "apns-priority", value: n.event.isSilent ? "5" : "10")
            request.headers.add(name: "apns-expiration", value: String(Int(now().timeIntervalSince1970) + (n.event.isSilent ? 3600 : 86400)))
            request.headers.add(name: "apns-collapse-id", value: Self.collapseID(n))
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            let status: UInt, headers: HTTPHeaders, body: ByteBuffer
            do {
                let response = try await http.execute(request, timeout: timeout)
                status = response.status.code
                headers = response.headers
                body = try await response.body.collect(upTo: 64 << 10)
            } catch {
                return .retry("request failed: \(error)", after: nil)
            }
            if (200..<300).contains(status) { return .delivered(headers.first(name: "apns-id") ?? "\(status)") }
            let answer = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            let reason = answer?["reason"] as? String ?? "status \(status)"
            switch (status, reason) {
            case (400, "BadDeviceToken"), (400, "DeviceTokenNotForTopic"):
                return .gone("\(status) \(reason)", since: nil)
            case (410, _):
                return .gone("\(status) \(reason)", since: (answer?["timestamp"] as? NSNumber)?.int64Value)
            case (403, "ExpiredProviderToken") where !renewed:
                bearer = token.renew(rejected: bearer)
                continue
            case (403, _):
                return .failed("\(status) \(reason): check NEST_APNS_KEY_FILE, NEST_APNS_KEY_ID and NEST_APNS_TEAM_ID")
            case (429, _), (500..., _):
                return .retry("\(status) \(reason)", after: RetryAfterHeader.parse(headers.first(name: "retry-after")))
            default:
                return .failed("\(status) \(reason)")
            }
        }
        return .retry("APNs refused a freshly made provider token", after: nil)
    }

    /// The JSON Apple reads: an alert with title and body, or `content-available` alone for a background push.
    static func payload(_ n: PushNotification) -> [UInt8]? {
        let aps = n.event.isSilent
            ? APS(alert: nil, sound: nil, threadID: nil, contentAvailable: 1)
            : APS(alert: .init(title: n.title, body: n.body), sound: "default", threadID: n.documentID, contentAvailable: nil)
        let payload = Payload(aps: aps, event: n.event.rawValue, documentID: n.documentID, actor: n.event.isSilent ? nil : n.actor)
        guard let data = try? PushJSON.sortedEncoder.encode(payload), data.count <= maxPayloadBytes else { return nil }
        return Array(data)
    }

    private struct Payload: Encodable {
        var aps: APS
        var event: String
        var documentID: String
        var actor: String?
    }

    private struct APS: Encodable {
        struct Alert: Encodable {
            var title: String
            var body: String
        }
        var alert: Alert?
        var sound: String?
        var threadID: String?
        var contentAvailable: Int?
        enum CodingKeys: String, CodingKey {
            case alert, sound
            case threadID = "thread-id"
            case contentAvailable = "content-available"
        }
    }

    /// At most 64 bytes: later pushes of the same event and document replace an earlier one still shown.
    static func collapseID(_ n: PushNotification) -> String {
        n.collapseKey(bytes: 24)
    }
}
