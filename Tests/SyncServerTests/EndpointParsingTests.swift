import Testing
import Foundation
import TestHarness
import TestBasics
@testable import SyncServer

@Suite("endpoint parsing")
struct EndpointParsingTests {
    @Test("percent decoding agrees with Foundation's on random escaped text, and refuses what it refuses (seeded)", arguments: [1, 2, 3] as [UInt64])
    func percentDecoding(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let pieces = ["a", "Z", "0", "-", "_", ".", "~", "/", "é", "😀", "%", "%2", "%2F", "%2f", "%20", "%C3%A9", "%C3", "%ZZ", "%F0%9F%98%80", "+", "="]
        for round in 0..<2_000 {
            let text = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in pieces.randomElement(using: &rng) ?? "a" }.joined()
            #expect(NestServerApp.percentDecoded(text) == text.removingPercentEncoding, "seed \(seed) round \(round): \(text)")
        }
    }

    @Test("sync endpoints: the document id and the token come out decoded; other paths are not sync endpoints")
    func endpoints() {
        #expect(NestServerApp.endpoint(of: "/v1/sync") == .nest)
        #expect(NestServerApp.endpoint(of: "/v1/sync?x=1") == .nest)
        #expect(NestServerApp.endpoint(of: "/v1/yjs/w1%2Fdraft%2Fa?token=ab%2Ec&x=1") == .yjs(documentID: "w1/draft/a", token: "ab.c"))
        #expect(NestServerApp.endpoint(of: "/v1/yjs/w1/draft/b") == .yjs(documentID: "w1/draft/b", token: nil))
        // A malformed escape is kept as it came: the document id check refuses it later.
        #expect(NestServerApp.endpoint(of: "/v1/yjs/w1/draft/%ZZ?token=t") == .yjs(documentID: "w1/draft/%ZZ", token: "t"))
        // Empty pairs are skipped, a key without "=" is present and empty, a later key wins; "=" may appear in a value.
        let (path, query) = NestServerApp.splitQuery("a%2Fb?&x&token=t=1&&token=u%3D2&é=%C3%A9")
        #expect(path == "a%2Fb")
        #expect(query == ["x": "", "token": "u=2", "é": "é"])
        #expect(NestServerApp.splitQuery("plain") == ("plain", [:]))
        #expect(NestServerApp.endpoint(of: "/v1/syncx") == nil)
        #expect(NestServerApp.endpoint(of: "/healthz") == nil)
    }
}
