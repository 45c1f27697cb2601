import Testing
import Synchronization
import TestHarness
import Foundation
import CRDT

/// A moment recorded by another thread.
final class Stamp: Sendable {
    let value = Mutex<Date?>(nil)
}

/// End to end over real WebSockets: nest-server processes and Debian's
/// y-websocket provider (node) as the stock Yjs peer.
@Suite("end to end (y-websocket peers)", .serialized)
struct EndToEndTests {
    @Test("two stock Yjs peers converge through the server; viewers read but cannot write")
    func convergeAndViewer() async throws {
        let server = try ServerProcess()
        let alice = try await server.token("alice", workspace: "w1", role: "editor")
        let bob = try await server.token("bob", workspace: "w1", role: "owner")
        let vic = try await server.token("vic", workspace: "w1", role: "viewer")
        try await server.start()
        defer { server.stop() }
        let result = try await server.peers(["converge", "w1/draft/d1", alice, bob])
        #expect(result["ok"] as? Bool == true, "\(result)")
        #expect(result["a"] as? String == "hello world")
        #expect(result["b"] as? String == "hello world")
        #expect(result["title"] as? String == "from a")
        #expect(try await server.peers(["read", "w1/draft/d1", vic])["text"] as? String == "hello world")
        _ = try await server.peers(["write", "w1/draft/d1", vic, " VIEWER"])
        #expect(try await server.peers(["read", "w1/draft/d1", alice])["text"] as? String == "hello world", "a viewer's edit reached the document")
        // The admin commands read the same document from the store while the server runs.
        let inspected = try await server.admin(["doc", "inspect", "w1/draft/d1"])
        #expect(inspected.contains(#"content (text): "hello world""#), "\(inspected)")
        #expect(inspected.contains(#"meta (map): {"title":"from a"}"#), "\(inspected)")
        let exported = try await server.admin(["doc", "export", "w1/draft/d1"])
        let copy = Doc(clientID: 77)
        try copy.applyUpdate(stride(from: 0, to: exported.count, by: 2).map { i in
            let a = exported.index(exported.startIndex, offsetBy: i)
            return UInt8(exported[a..<exported.index(a, offsetBy: 2)], radix: 16) ?? 0
        })
        #expect(copy.getText("content").toString() == "hello world")
        await #expect(throws: (any Error).self) { try await server.admin(["doc", "inspect", "w1/draft/none"]) }
    }

    @Test("bad, forged, expired and other-workspace tokens are refused with close codes")
    func refusedTokens() async throws {
        let server = try ServerProcess()
        let alice = try await server.token("alice", workspace: "w1")
        let wrongKey = try await server.admin(["token", "issue", "--user", "alice", "--ttl", "1h"], secret: "another-secret-0123456789abcdef012345")
        let shortLived = try await server.token("alice", ttl: "1s")
        // alg none: same claims, no signature.
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
        let algNone = b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(#"{"sub":"alice","exp":4102444800}"#) + "."
        try await server.start()
        defer { server.stop() }
        try await Task.sleep(for: .milliseconds(1_500))
        for (token, name) in [("", "missing"), ("not-a-jwt", "garbage"), (wrongKey, "wrong key"), (algNone, "alg none"), (shortLived, "expired")] {
            let r = try await server.peers(["close-code", "w1/draft/d1", token])
            #expect(r["code"] as? Int == 4401, "\(name): \(r)")
        }
        #expect(try await server.peers(["close-code", "w2/draft/d1", alice])["code"] as? Int == 4403)
        #expect(try await server.peers(["close-code", "w1/post/x", alice])["code"] as? Int == 4400)
        // The server is still healthy for a legitimate peer.
        #expect(try await server.peers(["write", "w1/draft/ok", alice, "fine"])["text"] as? String == "fine")
    }

    @Test("a stock Yjs peer is closed when its token expires (4401) or its membership is removed (4403) while connected")
    func liveRevocation() async throws {
        let server = try ServerProcess()
        let alice = try await server.token("alice", workspace: "w1")
        let shortLived = try await server.token("bob", workspace: "w1", ttl: "3s")
        try await server.start()
        defer { server.stop() }
        let issued = Date()
        let expired = try await server.peers(["close-code", "w1/draft/live", shortLived])
        let expiredAfter = Date().timeIntervalSince(issued)
        #expect(expired["code"] as? Int == 4401 && expired["reason"] as? String == "token expired", "\(expired)")
        // Whole-second tokens expire 2-3 s after issuing; the sweep notices within half a second (loose bound for CI).
        #expect(expiredAfter >= 2 && expiredAfter < 7, "closed \(expiredAfter) s after issuing")

        let removedAt = Stamp()
        let remover = Task {
            try await Task.sleep(for: .milliseconds(1500))
            removedAt.value.withLock { $0 = Date() }
            _ = try await server.admin(["members", "remove", "--workspace", "w1", "--user", "alice"])
        }
        let revoked = try await server.peers(["close-code", "w1/draft/live", alice])
        let closedAt = Date()
        #expect(revoked["code"] as? Int == 4403, "\(revoked)")
        try await remover.value
        let removed = try #require(removedAt.value.withLock { $0 }, "the peer was closed before the membership was removed")
        #expect(closedAt.timeIntervalSince(removed) < 5, "closed \(closedAt.timeIntervalSince(removed)) s after the removal")
    }

    @Test("keepalive: a peer that never answers pings is dropped after one silent period; one that answers stays")
    func keepalive() async throws {
        let server = try ServerProcess()
        server.serveEnvironment["NEST_KEEPALIVE_SECONDS"] = "1"
        let alice = try await server.token("alice", workspace: "w1")
        try await server.start()
        defer { server.stop() }
        let result = try await server.node("keepalive.cjs", ["ws://127.0.0.1:\(server.port)/v1/yjs/w1/draft/ka?token=\(alice)", "6000"])
        // Pinged at the first sweep (about 1 s), dropped at the next one that finds the ping unanswered (about 2 s).
        let closedAfter = result["silentClosedAfterMs"] as? Double
        #expect(closedAfter.map { $0 >= 900 && $0 < 5_500 } == true, "\(result)")
        #expect((result["pingsSeen"] as? Int ?? 0) >= 1, "\(result)")
        #expect(result["answeringOpen"] as? Bool == true, "a peer that answers pings was dropped: \(result)")
    }

    @Test("kill -9 between updates, restart: every committed update is there")
    func killNine() async throws {
        let server = try ServerProcess()
        let alice = try await server.token("alice", workspace: "w1")
        for round in 0..<3 {
            try await server.start()
            let w = try await server.peers(["write", "w1/draft/durable", alice, "[\(round)]"])
            #expect(w["ok"] as? Bool == true, "\(w)")
            server.kill9()
        }
        try await server.start()
        defer { server.stop() }
        let text = try await server.peers(["read", "w1/draft/durable", alice])["text"] as? String ?? ""
        for round in 0..<3 { #expect(text.contains("[\(round)]"), "round \(round) lost: \(text)") }
    }

    @Test("a server with a JWKS file accepts ES256 and RS256 tokens from the identity provider and refuses foreign ones")
    func jwksTokens() async throws {
        let provider = try await ProviderKeys.make()
        let server = try ServerProcess()
        let jwksPath = server.dataDir + "/jwks.json"
        try provider.jwks.write(toFile: jwksPath, atomically: true, encoding: .utf8)
        server.serveEnvironment["NEST_JWKS_FILE"] = jwksPath
        for user in ["erin", "rob"] { _ = try await server.admin(["members", "add", "--workspace", "w1", "--user", user, "--role", "editor"]) }
        try await server.start()
        defer { server.stop() }
        let ec = try await provider.token("erin", kid: "ec-1"), rsa = try await provider.token("rob", kid: "rsa-1")
        #expect(try await server.peers(["write", "w1/draft/jwks", ec, "ec "])["text"] as? String == "ec ")
        #expect(try await server.peers(["write", "w1/draft/jwks", rsa, "rsa"])["text"] as? String == "ec rsa")
        let foreign = try await ProviderKeys.make().token("erin", kid: "ec-1")
        #expect(try await server.peers(["close-code", "w1/draft/jwks", foreign])["code"] as? Int == 4401)
    }
}
