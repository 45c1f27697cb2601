public import AsyncHTTPClient
import NIOHTTP1
import NIOFoundationCompat
import Foundation
public import NIOCore
import SyncProtocol

/// ntfy (and ntfy-style targets): the message published as JSON to the
/// server (`POST {server}/` with `topic`, `title`, `message`, `priority`,
/// `tags`), so that titles in any language survive (HTTP headers are not
/// UTF-8); bearer or basic auth.
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
        guard let (server, topic) = Self.split(url) else { return .failed("not an ntfy topic URL: \(url)") }
        var request = HTTPClientRequest(url: server + "/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let auth {
            request.headers.add(name: "Authorization", value: auth.contains(":") ? "Basic \(Data(auth.utf8).base64EncodedString())" : "Bearer \(auth)")
        }
        let message: [String: Any] = ["topic": topic, "title": n.title, "message": n.body.isEmpty ? n.title : n.body,
                                      "priority": n.event == .edits ? 3 : 4, "tags": [n.event.rawValue]]
        request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])) ?? Data()))
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

    /// `https://ntfy.sh/alice` → (`https://ntfy.sh`, `alice`); a server under a path keeps it.
    static func split(_ url: String) -> (server: String, topic: String)? {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        guard let slash = u.lastIndex(of: "/"), u[..<slash].contains("://"), !u[..<slash].hasSuffix("/") else { return nil }
        let topic = String(u[u.index(after: slash)...])
        return topic.isEmpty ? nil : (String(u[..<slash]), topic)
    }
}
