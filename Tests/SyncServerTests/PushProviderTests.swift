import AsyncHTTPClient
import Crypto
import Foundation
import SyncProtocol
@testable import SyncServer
import TestHarness
import Testing

@Suite("push: Web Push encryption and VAPID, device addresses, quiet hours")
struct PushUnitTests {
    static func b(_ s: String) -> [UInt8] { Base64URL.decode(s)! }

    @Test("RFC 8291 appendix A: the same keys, salt and text give the same body, byte for byte")
    func rfc8291Vector() throws {
        let receiver = try P256.KeyAgreement.PrivateKey(rawRepresentation: Self.b("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
        let sender = try P256.KeyAgreement.PrivateKey(rawRepresentation: Self.b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
        let body = try WebPushEncryption.encrypt(
            Array("When I grow up, I want to be a watermelon".utf8), p256dh: Array(receiver.publicKey.x963Representation),
            auth: Self.b("BTBZMqHH6r4Tts7J_aSIgg"), senderKey: sender, salt: Self.b("DGv6ra1nlYgDCS1FRnbzlw"))
        #expect(Base64URL.encode(body) == "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    }

    @Test("fresh key and salt per message: the same text encrypts differently each time")
    func freshPerMessage() throws {
        let receiver = P256.KeyAgreement.PrivateKey()
        let key = Array(receiver.publicKey.x963Representation), auth = [UInt8](repeating: 7, count: 16)
        let a = try WebPushEncryption.encrypt(Array("hi".utf8), p256dh: key, auth: auth)
        let c = try WebPushEncryption.encrypt(Array("hi".utf8), p256dh: key, auth: auth)
        #expect(a != c && a.prefix(16) != c.prefix(16))
        #expect(throws: WebPushEncryption.Failure.self) {
            try WebPushEncryption.encrypt([UInt8](repeating: 1, count: 4000), p256dh: key, auth: auth)
        }
    }

    @Test("base64url round-trips every length, with and without padding; garbage is refused")
    func base64url() {
        var rng = SeededRandom(seed: 20261207)
        for n in 0..<70 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes, "length \(n), seed 20261207")
            #expect(Base64URL.decode(Data(bytes).base64EncodedString()) == bytes)
        }
        #expect(Base64URL.decode("ab$d") == nil)
        #expect(Base64URL.decode("a") == nil)
    }

    @Test("device addresses: every provider parses; each bad or missing field is named")
    func addresses() throws {
        let key = Base64URL.encode(Array(P256.KeyAgreement.PrivateKey().publicKey.x963Representation))
        let ok: [(String, [DeviceField])] = [
            ("apns", [.init("token", String(repeating: "ab", count: 32)), .init("topic", "app.clientnest"), .init("environment", "sandbox")]),
            ("fcm", [.init("token", "fcm-token:APA91b")]),
            ("webpush", [.init("endpoint", "https://push.example/x"), .init("p256dh", key), .init("auth", "BTBZMqHH6r4Tts7J_aSIgg")]),
            ("ntfy", [.init("url", "https://ntfy.sh/nest-alice"), .init("auth", "tk_123")]),
        ]
        for (provider, fields) in ok {
            let a = try DeviceAddress(provider: provider, fields: fields)
            #expect(a.provider == provider)
            #expect(try DeviceAddress(provider: provider, fields: a.fields) == a, "fields round-trip")
            #expect(RegisteredDevice.id(for: a) == RegisteredDevice.id(for: try DeviceAddress(provider: provider, fields: fields.reversed())))
        }
        let bad: [(String, [DeviceField], String)] = [
            ("apns", [.init("token", "xyz"), .init("topic", "t")], "hex"),
            ("apns", [.init("token", String(repeating: "ab", count: 32))], "missing topic"),
            ("webpush", [.init("endpoint", "ftp://x"), .init("p256dh", key), .init("auth", "BTBZMqHH6r4Tts7J_aSIgg")], "http(s) URL"),
            ("webpush", [.init("endpoint", "https://x"), .init("p256dh", "AAAA"), .init("auth", "BTBZMqHH6r4Tts7J_aSIgg")], "p256dh"),
            ("webpush", [.init("endpoint", "https://x"), .init("p256dh", key), .init("auth", "AAAA")], "auth must be 16 bytes"),
            ("ntfy", [.init("url", "https://x"), .init("colour", "red")], "unknown field colour"),
            ("ntfy", [.init("url", "https://x"), .init("url", "https://y")], "given twice"),
            ("pager", [], "unknown provider"),
        ]
        for (provider, fields, says) in bad {
            do {
                _ = try DeviceAddress(provider: provider, fields: fields)
                Issue.record("\(provider) \(fields) was accepted")
            } catch {
                #expect(error.description.contains(says), "\(error.description)")
            }
        }
    }

    @Test("quiet hours end in the user's zone, across midnight and a DST change; outside them nothing waits")
    func quietHours() throws {
        let q = try #require(QuietHours(range: "22:00-07:00", timeZone: "Europe/Berlin"))
        let iso = ISO8601DateFormatter()
        // 23:30 Berlin (UTC+1 in December) waits until 07:00 Berlin = 06:00 UTC.
        #expect(q.end(after: iso.date(from: "2026-12-07T22:30:00Z")!) == iso.date(from: "2026-12-08T06:00:00Z"))
        // 06:59:30 Berlin: half a minute left.
        #expect(q.end(after: iso.date(from: "2026-12-08T05:59:30Z")!) == iso.date(from: "2026-12-08T06:00:00Z"))
        #expect(q.end(after: iso.date(from: "2026-12-08T06:00:00Z")!) == nil)
        #expect(q.end(after: iso.date(from: "2026-12-08T12:00:00Z")!) == nil)
        // The night clocks go forward (29 March 2026): 07:00 Berlin is 05:00 UTC.
        #expect(q.end(after: iso.date(from: "2026-03-29T00:30:00Z")!) == iso.date(from: "2026-03-29T05:00:00Z"))
        let day = try #require(QuietHours(range: "12:00-13:30", timeZone: "UTC"))
        #expect(day.end(after: iso.date(from: "2026-12-08T12:10:00Z")!) == iso.date(from: "2026-12-08T13:30:00Z"))
        #expect(QuietHours(range: "25:00-07:00", timeZone: "UTC") == nil)
        #expect(QuietHours(range: "22:00-07:00", timeZone: "Mars/Olympus") == nil)
    }
}

@Suite("push: Web Push to an endpoint that decrypts with http_ece and verifies VAPID with PyJWT")
struct WebPushProviderTests {
    @Test("a notification arrives decrypted, with TTL, Urgency, Topic and a valid VAPID token; 410, 503, 429 and 413 map to drop, retry, wait, fail")
    func contract() async throws {
        let endpoint = try WebPushEndpoint()
        defer { endpoint.stop() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let provider = WebPushProvider(http: http, vapid: VAPID(key: .init(), subject: "mailto:ops@clientnest.test"))
        func device(_ sub: String) throws -> RegisteredDevice {
            guard let s = endpoint.subscriptions[sub] else { throw WebPushEndpointError(description: "no subscription \(sub)") }
            let a = try DeviceAddress(provider: "webpush", fields: [.init("endpoint", s.endpoint), .init("p256dh", s.p256dh), .init("auth", s.auth)])
            return RegisteredDevice(id: RegisteredDevice.id(for: a), userID: "bob", address: a, registeredAt: 0)
        }
        let n = PushNotification(event: .aiReady, userID: "bob", documentID: "w1/draft/d1", title: "AI caption ready for “Launch” ✨",
                                 body: "Open the draft to accept or reject it.", actor: "")
        let delivered = await provider.send(n, to: try device("ok"))
        guard case .delivered(let location) = delivered else { Issue.record("ok: \(delivered)"); return }
        #expect(location.hasPrefix("/msg/ok/"))
        let silent = await provider.send(PushNotification(event: .background, userID: "bob", documentID: "w1/draft/d1", title: "", body: "", actor: ""), to: try device("ok"))
        #expect(silent == .delivered("/msg/ok/2"))
        #expect(await provider.send(n, to: try device("gone")) == .gone("410: subscription expired or unsubscribed", since: nil))
        guard case .retry = await provider.send(n, to: try device("flaky")) else { Issue.record("503 is not a retry"); return }
        guard case .retry(_, let after) = await provider.send(n, to: try device("limited")) else { Issue.record("429 is not a retry"); return }
        #expect(after == .seconds(1))
        guard case .failed = await provider.send(n, to: try device("big")) else { Issue.record("413 is not a failure"); return }

        let log = try await endpoint.log()
        #expect(log.flatMap(\.problems).isEmpty, "\(log.flatMap(\.problems))")
        let first = try #require(log.first)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data((first.plaintext ?? "").utf8)) as? [String: String])
        #expect(payload == ["title": n.title, "body": n.body, "documentID": "w1/draft/d1", "actor": ""])
        #expect(first.urgency == "high" && first.ttl == "86400" && (first.topic?.count ?? 99) <= 32)
        #expect(log[1].plaintext == #"{"event":"background"}"# && log[1].urgency == "low")
        // Padded to a multiple of 64 bytes plus the header and tag: lengths say little.
        #expect(Set(log.prefix(2).map { ($0.bytes - 86 - 16) % 64 }) == [0])
        try await http.shutdown()
    }
}
