import AsyncHTTPClient
import Crypto
import Foundation
import SyncProtocol
@testable import SyncServer
import TestHarness
import TestBasics
import NIOCore
import NIOSSL
import Synchronization
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

    @Test("VAPID headers are reused per push service for an hour, then signed anew; another service gets its own")
    func vapidReuse() throws {
        let headers = VAPIDHeaders(vapid: VAPID(key: P256.Signing.PrivateKey(), subject: "mailto:ops@nest.test"))
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let a = try #require(URL(string: "https://push.example.net/sub/1")), sameOrigin = try #require(URL(string: "https://push.example.net/sub/2"))
        let other = try #require(URL(string: "https://fcm.example.com:8443/sub/1"))
        let first = try headers.header(for: a, now: t0)
        #expect(try headers.header(for: sameOrigin, now: t0.addingTimeInterval(3_599)) == first)
        let otherHeader = try headers.header(for: other, now: t0)
        #expect(otherHeader != first)
        // The token names its audience: the service's origin, port included.
        let claims = try #require(otherHeader.split(separator: " ").dropFirst().first?.dropFirst(2).split(separator: ".").dropLast().last)
        let json = try #require(Base64URL.decode(String(claims.dropLast(claims.hasSuffix(",") ? 1 : 0))))
        #expect(String(decoding: json, as: UTF8.self).contains(#""aud":"https:\/\/fcm.example.com:8443""#) ||
                String(decoding: json, as: UTF8.self).contains(#""aud":"https://fcm.example.com:8443""#), "\(String(decoding: json, as: UTF8.self))")
        let renewed = try headers.header(for: a, now: t0.addingTimeInterval(3_600))
        #expect(renewed != first, "an hour later the header is signed anew")
        #expect(try headers.header(for: a, now: t0.addingTimeInterval(3_700)) == renewed)
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

    @Test("an ntfy topic URL splits into the server (with any path) and the topic")
    func ntfyURL() {
        #expect(NtfyProvider.split("https://ntfy.sh/alice") ?? ("", "") == ("https://ntfy.sh", "alice"))
        #expect(NtfyProvider.split("http://127.0.0.1:8789/ntfy/alice/") ?? ("", "") == ("http://127.0.0.1:8789/ntfy", "alice"))
        #expect(NtfyProvider.split("https://ntfy.sh/") == nil)
        #expect(NtfyProvider.split("https://ntfy.sh") == nil)
    }

    @Test("mentions: @ids in a comment, each once; an e-mail address is not a mention")
    func mentions() {
        #expect(DocumentNotice.mentions(in: "@alice, @bob.smith. mail ops@example.com or @alice again (@carol-x)") == ["alice", "bob.smith", "carol-x"])
        #expect(DocumentNotice.mentions(in: "no one @ all") == [])
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
        let endpoint = try await WebPushEndpoint.start()
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
        if case .delivered(let location) = delivered { #expect(location.hasPrefix("/msg/ok/")) } else { Issue.record("ok: \(delivered)") }
        let silent = await provider.send(PushNotification(event: .background, userID: "bob", documentID: "w1/draft/d1", title: "", body: "", actor: ""), to: try device("ok"))
        #expect(silent == .delivered("/msg/ok/2"))
        #expect(await provider.send(n, to: try device("gone")) == .gone("410: subscription expired or unsubscribed", since: nil))
        let flaky = await provider.send(n, to: try device("flaky"))
        #expect(flaky == .retry("503: push service error", after: nil))
        let limited = await provider.send(n, to: try device("limited"))
        #expect(limited == .retry("429: rate limited", after: .seconds(1)))
        let big = await provider.send(n, to: try device("big"))
        #expect(big == .failed("413: payload too large"))

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

@Suite("push: APNs over HTTP/2 and TLS, FCM HTTP v1 with its OAuth token, each against a local server that checks the contract")
struct APNsFCMProviderTests {
    static let alert = PushNotification(event: .aiReady, userID: "bob", documentID: "w1/draft/d1", title: "AI caption ready for “Launch”",
                                        body: "Open the draft to accept or reject it.", actor: "")
    static let silent = PushNotification(event: .background, userID: "bob", documentID: "w1/draft/d1", title: "", body: "", actor: "")

    static func apnsDevice(_ n: Int) throws -> RegisteredDevice {
        let a = try DeviceAddress(provider: "apns", fields: [.init("token", String(format: "%064x", n)), .init("topic", "app.clientnest")])
        return RegisteredDevice(id: RegisteredDevice.id(for: a), userID: "bob", address: a, registeredAt: 0)
    }

    @Test("APNs: 200 pushes share one HTTP/2 connection and one provider token; each documented error maps to drop, retry or fail; an expired token is replaced once")
    func apns() async throws {
        let key = P256.Signing.PrivateKey()
        let fake = FakeAPNs(teamID: "TEAM123456", keyID: "KEY1234567", publicKey: key.publicKey)
        try await fake.start()
        defer { fake.stop() }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.file(fake.certificateFile)]
        // Generous deadlines: this test starts with the suite, while the CRDT suites keep both cores busy, and a TLS and
        // HTTP/2 set-up that waits its turn there is not what it checks (the contract and the mapping are).
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(60))))
        // Token time runs from 50 minutes ago, so that moving it on stays in the past for the server.
        let clock = Mutex(Date().addingTimeInterval(-50 * 60))
        let token = APNsProviderToken(key: key, keyID: "KEY1234567", teamID: "TEAM123456", now: { clock.withLock { $0 } })
        let provider = APNsProvider(http: http, token: token, baseURL: fake.baseURL, timeout: .seconds(60))

        let outcomes = try await withThrowingTaskGroup(of: PushOutcome.self) { group in
            for i in 0..<200 {
                let d = try Self.apnsDevice(i)
                group.addTask { await provider.send(i % 10 == 0 ? Self.silent : Self.alert, to: d) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { if case .delivered(let id) = $0 { UUID(uuidString: id) != nil } else { false } }, "\(outcomes.filter { if case .delivered = $0 { false } else { true } })")
        let first = fake.requests
        #expect(first.count == 200 && first.allSatisfy(\.http2), "every push over HTTP/2")
        #expect(Set(first.map(\.connection)).count == 1, "one connection, multiplexed")
        #expect(Set(first.map(\.providerToken)).count == 1, "one provider token")
        let silentOne = try #require(first.first { $0.headers["apns-push-type"] == "background" })
        #expect(silentOne.headers["apns-priority"] == "5" && silentOne.headers["apns-topic"] == "app.clientnest")

        // Reused for 19 minutes, replaced after 40.
        clock.withLock { $0 += 19 * 60 }
        #expect(token.token() == first[0].providerToken)
        clock.withLock { $0 += 22 * 60 }
        #expect(token.token() != first[0].providerToken)

        let d = { (n: Int) throws -> RegisteredDevice in try Self.apnsDevice(1000 + n) }
        let tokenOf = { (n: Int) in String(format: "%064x", 1000 + n) }
        fake.script(tokenOf(1), .error(status: 410, reason: "Unregistered", timestamp: 1_796_000_000_000))
        fake.script(tokenOf(2), .error(status: 400, reason: "BadDeviceToken"))
        fake.script(tokenOf(3), .error(status: 400, reason: "BadCollapseId"))
        fake.script(tokenOf(4), .error(status: 413, reason: "PayloadTooLarge"))
        fake.script(tokenOf(5), .error(status: 429, reason: "TooManyRequests", retryAfter: 30))
        fake.script(tokenOf(6), .error(status: 503, reason: "ServiceUnavailable"))
        fake.script(tokenOf(7), .error(status: 403, reason: "InvalidProviderToken"))
        #expect(await provider.send(Self.alert, to: try d(1)) == .gone("410 Unregistered", since: 1_796_000_000_000))
        #expect(await provider.send(Self.alert, to: try d(2)) == .gone("400 BadDeviceToken", since: nil))
        #expect(await provider.send(Self.alert, to: try d(3)) == .failed("400 BadCollapseId"))
        #expect(await provider.send(Self.alert, to: try d(4)) == .failed("413 PayloadTooLarge"))
        #expect(await provider.send(Self.alert, to: try d(5)) == .retry("429 TooManyRequests", after: .seconds(30)))
        #expect(await provider.send(Self.alert, to: try d(6)) == .retry("503 ServiceUnavailable", after: nil))
        let invalid = await provider.send(Self.alert, to: try d(7))
        #expect(invalid == .failed("403 InvalidProviderToken: check NEST_APNS_KEY_FILE, NEST_APNS_KEY_ID and NEST_APNS_TEAM_ID"))

        // An expired provider token: one new token, one more try.
        let current = token.token()
        fake.expire(providerToken: current)
        let renewed = await provider.send(Self.alert, to: try d(8))
        if case .delivered = renewed {} else { Issue.record("not delivered after renewing: \(renewed)") }
        let tries = fake.requests.filter { $0.deviceToken == tokenOf(8) }
        #expect(tries.count == 2 && tries[0].providerToken == current && tries[1].providerToken != current)

        // A payload over 4 KB is refused before sending.
        let big = PushNotification(event: .aiReady, userID: "bob", documentID: "w1/draft/d1", title: String(repeating: "é", count: 3000), body: "", actor: "")
        let before = fake.requests.count
        #expect(await provider.send(big, to: try d(9)) == .failed("the payload is over 4096 bytes"))
        #expect(fake.requests.count == before)
        #expect(fake.violations.isEmpty, "\(fake.violations)")
        try await http.shutdown()
    }

    @Test("FCM: the access token is fetched once with a verified RS256 assertion and renewed once on 401; UNREGISTERED and SENDER_ID_MISMATCH drop, QUOTA_EXCEEDED waits for Retry-After")
    func fcm() async throws {
        let fake = try FakeFCM()
        try await fake.start()
        defer { fake.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString).json").path
        try fake.serviceAccountJSON.write(toFile: file, atomically: true, encoding: .utf8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let provider = FCMProvider(http: http, account: try FCMServiceAccount.load(file: file), baseURL: fake.baseURL)
        func device(_ t: String) throws -> RegisteredDevice {
            let a = try DeviceAddress(provider: "fcm", fields: [.init("token", t)])
            return RegisteredDevice(id: RegisteredDevice.id(for: a), userID: "bob", address: a, registeredAt: 0)
        }
        #expect(await provider.send(Self.alert, to: try device("r1")) == .delivered("projects/nest-test/messages/1"))
        #expect(await provider.send(Self.silent, to: try device("r1")) == .delivered("projects/nest-test/messages/2"))
        #expect(fake.accessTokens.count == 1, "the access token is kept")
        let alert = fake.messages[0], silent = fake.messages[1]
        #expect((alert["notification"] as? String)?.contains("AI caption ready") == true && silent["notification"] == nil)
        #expect((silent["apns"] as? String)?.contains("content-available") == true)

        fake.script("gone", .error(status: 404, errorCode: "UNREGISTERED"))
        fake.script("other", .error(status: 403, errorCode: "SENDER_ID_MISMATCH"))
        fake.script("bad", .error(status: 400, errorCode: "INVALID_ARGUMENT"))
        fake.script("busy", .error(status: 429, errorCode: "QUOTA_EXCEEDED", retryAfter: 7))
        fake.script("down", .error(status: 503, errorCode: "UNAVAILABLE"))
        #expect(await provider.send(Self.alert, to: try device("gone")) == .gone("UNREGISTERED", since: nil))
        #expect(await provider.send(Self.alert, to: try device("other")) == .gone("SENDER_ID_MISMATCH", since: nil))
        #expect(await provider.send(Self.alert, to: try device("bad")) == .failed("INVALID_ARGUMENT"))
        #expect(await provider.send(Self.alert, to: try device("busy")) == .retry("QUOTA_EXCEEDED", after: .seconds(7)))
        #expect(await provider.send(Self.alert, to: try device("down")) == .retry("UNAVAILABLE", after: nil))

        fake.revokeAccessTokens()
        #expect(await provider.send(Self.alert, to: try device("r1")) == .delivered("projects/nest-test/messages/3"))
        #expect(fake.accessTokens.count == 2, "renewed once after the 401")
        #expect(fake.violations.isEmpty, "\(fake.violations)")
        try await http.shutdown()
    }
}
