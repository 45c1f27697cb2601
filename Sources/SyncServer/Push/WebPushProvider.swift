public import AsyncHTTPClient
import NIOHTTP1
import NIOFoundationCompat
import Foundation
public import NIOCore

import SyncProtocol

/// Web Push (RFC 8030) with RFC 8291 encryption and RFC 8292 VAPID; UnifiedPush
/// distributors take the same requests. Redirects are never followed.
public struct WebPushProvider: PushProvider {
    let http: HTTPClient
    let vapid: VAPID
    let timeout: TimeAmount
    private let headers: VAPIDHeaders

    public init(http: HTTPClient, vapid: VAPID, timeout: TimeAmount = .seconds(10)) {
        self.http = http
        self.vapid = vapid
        self.timeout = timeout
        headers = VAPIDHeaders(vapid: vapid)
    }

    public func send(_ n: PushNotification, to device: RegisteredDevice) async -> PushOutcome {
        guard case .webPush(let endpoint, let p256dh, let auth) = device.address, let url = URL(string: endpoint),
              let key = Base64URL.decode(p256dh), let secret = Base64URL.decode(auth) else {
            return .failed("not a Web Push subscription")
        }
        let body: [UInt8], authorization: String
        do {
            // Padding to a multiple of 64 bytes keeps the length from telling which text it is.
            let plain = Array((n.event.isSilent ? #"{"event":"background"}"# : n.payloadJSON).utf8)
            body = try WebPushEncryption.encrypt(plain, p256dh: key, auth: secret, padding: (64 - (plain.count + 1) % 64) % 64)
            authorization = try headers.header(for: url)
        } catch {
            return .failed("\(error)")
        }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Encoding", value: "aes128gcm")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.headers.add(name: "TTL", value: n.event.isSilent ? "3600" : "86400")
        request.headers.add(name: "Urgency", value: n.event.isSilent ? "low" : "high")
        request.headers.add(name: "Topic", value: Self.topic(n))
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: timeout)
            let text = String(buffer: try await response.body.collect(upTo: 64 << 10))
            let status = response.status.code
            switch status {
            case 200..<300: return .delivered(response.headers.first(name: "Location") ?? "\(status)")
            case 404, 410: return .gone("\(status): subscription expired or unsubscribed", since: nil)
            case 413: return .failed("413: payload too large")
            case 429: return .retry("429: rate limited", after: RetryAfterHeader.parse(response.headers.first(name: "Retry-After")))
            case 401, 403: return .failed("\(status): the push service refused the VAPID credentials: \(text.prefix(200))")
            case 300..<400: return .failed("\(status): redirects are not followed")
            case 500...: return .retry("\(status): push service error", after: RetryAfterHeader.parse(response.headers.first(name: "Retry-After")))
            default: return .failed("\(status): \(text.prefix(200))")
            }
        } catch {
            return .retry("request failed: \(error)", after: nil)
        }
    }

    /// A pending message with the same topic is replaced: one per event and document (≤ 32 base64url characters).
    static func topic(_ n: PushNotification) -> String {
        n.collapseKey(bytes: 18)
    }
}
