import Foundation
import JWTKit
import SyncServer
import TestHarness
import TestBasics
import Testing

/// Claims as an identity provider would issue them.
struct ProviderClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Keys an identity provider signs with, and the JWKS it publishes.
struct ProviderKeys {
    let signer = JWTKeyCollection()
    let jwks: String

    static func make() async throws -> ProviderKeys {
        let ec = ES256PrivateKey()
        guard let p = ec.publicKey.parameters else { throw CLIError("no EC parameters") }
        // RSA: a fresh 2048-bit key from openssl (jwt-kit reads PEM keys but does not generate RSA ones).
        let pem = try await ProcessRunner.run("/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], environment: nil)
        guard pem.status == 0 else { throw CLIError("openssl: \(pem.err)") }
        let rsa = try Insecure.RSA.PrivateKey(pem: pem.out)
        let (n, e) = try rsa.publicKey.getKeyPrimitives()
        let b64 = { (d: Data) in d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "") }
        let jwks = """
            {"keys":[
              {"kty":"EC","crv":"P-256","x":"\(p.x)","y":"\(p.y)","kid":"ec-1","alg":"ES256","use":"sig"},
              {"kty":"RSA","n":"\(b64(n))","e":"\(b64(e))","kid":"rsa-1","alg":"RS256","use":"sig"}
            ]}
            """
        let keys = ProviderKeys(jwks: jwks)
        await keys.signer.add(ecdsa: ec, kid: "ec-1")
        await keys.signer.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa-1")
        return keys
    }

    func token(_ user: String, kid: String, ttl: TimeInterval = 3600) async throws -> String {
        try await signer.sign(ProviderClaims(sub: .init(value: user), exp: .init(value: Date().addingTimeInterval(ttl))), kid: JWKIdentifier(string: kid))
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

@Suite("token verification")
struct TokenVerifierTests {
    @Test("ES256 and RS256 tokens verify against a JWKS beside the HS256 secret; wrong keys, expiry and algorithm confusion are refused")
    func jwks() async throws {
        let provider = try await ProviderKeys.make()
        let verifier = try await TokenVerifier(secret: ServerProcess.secret, jwksJSON: provider.jwks)
        #expect(await verifier.user(for: try await provider.token("erin", kid: "ec-1")) == .success("erin"))
        #expect(await verifier.user(for: try await provider.token("rob", kid: "rsa-1")) == .success("rob"))
        #expect(await verifier.user(for: try await provider.token("erin", kid: "ec-1", ttl: -10)) == .failure(.expired))
        #expect(await verifier.user(for: try await verifier.issue(user: "hana", ttl: 60)) == .success("hana"), "HS256 still works")

        // Another provider's key under a known kid, and an unknown kid.
        let other = try await ProviderKeys.make()
        #expect(await verifier.user(for: try await other.token("mallory", kid: "ec-1")) == .failure(.invalid))
        #expect(await verifier.user(for: try await other.token("mallory", kid: "rsa-1")) == .failure(.invalid))
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey(), kid: "ec-9")
        #expect(await verifier.user(for: try await stranger.sign(ProviderClaims(sub: "m", exp: .init(value: Date().addingTimeInterval(60))), kid: "ec-9")) == .failure(.invalid))

        // Algorithm confusion: an HS256 token "signed" with the RSA key's public modulus under its kid.
        let confused = JWTKeyCollection()
        await confused.add(hmac: HMACKey(from: provider.jwks), digestAlgorithm: .sha256, kid: "rsa-1")
        #expect(await verifier.user(for: try await confused.sign(ProviderClaims(sub: "m", exp: .init(value: Date().addingTimeInterval(60))), kid: "rsa-1")) == .failure(.invalid))
    }

    @Test("configuration errors are clear: no keys, a short secret, a broken JWKS")
    func configuration() async throws {
        await #expect(throws: ServerStartError.self) { try await TokenVerifier(secret: nil, jwksJSON: nil) }
        await #expect(throws: ServerStartError.self) { try await TokenVerifier(secret: "short", jwksJSON: nil) }
        await #expect(throws: ServerStartError.self) { try await TokenVerifier(secret: nil, jwksJSON: "{\"keys\": 5}") }
        let jwksOnly = try await TokenVerifier(secret: nil, jwksJSON: #"{"keys":[]}"#)
        await #expect(throws: (any Error).self) { try await jwksOnly.issue(user: "x", ttl: 60) }
    }

    @Test("one verification gives the user and the expiry the token carries; missing, forged and expired tokens say which")
    func identity() async throws {
        let verifier = try await TokenVerifier(secret: String(repeating: "k", count: 40))
        let before = Date()
        let token = try await verifier.issue(user: "ivy", ttl: 120)
        guard case .success(let identity) = await verifier.identity(of: token) else {
            Issue.record("a fresh token was refused")
            return
        }
        #expect(identity.user == "ivy")
        // Expiry is carried in whole seconds.
        let lifetime = identity.expiry.timeIntervalSince(before)
        #expect(lifetime > 118 && lifetime < 122, "expiry \(lifetime) s after issuing")
        #expect(await verifier.identity(of: nil) == .failure(.missing))
        #expect(await verifier.identity(of: token + "x") == .failure(.invalid))
        #expect(await verifier.identity(of: try await verifier.issue(user: "ivy", ttl: -30)) == .failure(.expired))
    }
}
