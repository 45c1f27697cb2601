public import AsyncHTTPClient
import NIOHTTP1
import NIOFoundationCompat
import Foundation
public import NIOCore
import SyncProtocol

/// ntfy (and ntfy-style targets): `POST` the message to the topic URL with
/// `Title`, `Priority` and `Tags`, bearer or basic auth.
public struct NtfyProvider: PushProvider {
    let http: HTTPClient
    let timeout: TimeAmount

    public init(http: HTTPClient, timeout: TimeAmount = .seconds(10)) {
        self.http = http
        self.timeout = timeout
    }

    public func send(_ n: PushNotification, to device: RegisteredDevice) async -> PushOutcome {
        guard case .ntfy(let url, let auth) = device.address else { return .failed("not an ntfy topic") }
        // ntfy shows every message: there is no silent one to wake an app with.
        guard !n.event.isSilent else { return .failed("ntfy has no silent pushes") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Title", value: Self.headerSafe(n.title))
        request.headers.add(name: "Priority", value: n.event == .edits ? "3" : "4")
        request.headers.add(name: "Tags", value: n.event.rawValue)
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        if let auth {
            request.headers.add(name: "Authorization", value: auth.contains(":") ? "Basic \(Data(auth.utf8).base64EncodedString())" : "Bearer \(auth)")
        }
        request.body = .bytes(ByteBuffer(string: n.body))
        do {
            let response = try await http.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 64 << 10)
            let status = response.status.code
            switch status {
            case 200..<300:
                let id = (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])?["id"] as? String
                return .delivered(id ?? "\(status)")
            case 404, 410: return .gone("\(status): topic gone", since: nil)
            case 429: return .retry("429: rate limited", after: RetryAfterHeader.parse(response.headers.first(name: "Retry-After")))
            case 500...: return .retry("\(status): ntfy server error", after: nil)
            default: return .failed("\(status): \(String(buffer: body).prefix(200))")
            }
        } catch {
            return .retry("request failed: \(error)", after: nil)
        }
    }

    /// HTTP header values carry no line breaks; ntfy reads UTF-8 titles.
    static func headerSafe(_ s: String) -> String {
        String(s.map { $0.isNewline ? " " : $0 }.prefix(200))
    }
}
