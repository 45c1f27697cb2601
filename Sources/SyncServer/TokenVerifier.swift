public import Foundation
import JWTKit

/// The claims Nest Sync reads from a token: `sub` is the user.
struct NestClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Why a token was not accepted: a struct over a stable code, so that new
/// kinds can be added without breaking callers (compare with `==`).
public struct TokenProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The code, as it appears in error texts: `missing`, `invalid`, `expired`.
    public var code: String
    private init(_ code: String) { self.code = code }
    public var description: String { code }

    /// No token was presented.
    public static let missing = TokenProblem("missing")
    /// The token's signature, algorithm, key or claims are not acceptable.
    public static let invalid = TokenProblem("invalid")
    /// The token's `exp` has passed.
    public static let expired = TokenProblem("expired")
}

/// Verifies tokens: HS256 with the server's shared secret (as Supabase
/// issues them) and, when a JWKS is configured, ES256/RS256 (and the other
/// algorithms a JWK names) with the key its `kid` header selects. Anything
/// else — another key, `alg: none`, an algorithm that does not match the
/// key — is refused. Issues HS256 tokens for development and tests.
public actor TokenVerifier {
    private let keys = JWTKeyCollection()
    private let canIssue: Bool

    /// Smallest accepted secret: HS256 keys shorter than the hash are weak.
    public static let minimumSecretBytes = 32

    /// Fails for a secret shorter than ``minimumSecretBytes`` bytes.
    public init(secret: String) async throws(ServerStartError) {
        try await self.init(secret: secret, jwksJSON: nil)
    }

    /// Accepts tokens signed with `secret` (HS256) and with the keys of the
    /// JSON Web Key Set `jwksJSON`; at least one must be given.
    public init(secret: String?, jwksJSON: String?) async throws(ServerStartError) {
        guard secret != nil || jwksJSON != nil else {
            throw ServerStartError(description: "no token keys: set NEST_JWT_SECRET (HS256) and/or NEST_JWKS_FILE (ES256/RS256)")
        }
        if let secret {
            guard secret.utf8.count >= Self.minimumSecretBytes else {
                throw ServerStartError(description: "the JWT secret must be at least \(Self.minimumSecretBytes) bytes (it has \(secret.utf8.count))")
            }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        canIssue = secret != nil
        if let jwksJSON {
            do { try await keys.add(jwksJSON: jwksJSON) } catch {
                throw ServerStartError(description: "the JWKS is not a valid JSON Web Key Set: \(error)")
            }
        }
    }

    /// What a valid token says: its user and when it expires.
    public struct Identity: Sendable, Equatable {
        public var user: String
        /// When the token expires: the live connection it opened is closed then.
        public var expiry: Date
    }

    /// Verifies a token once and returns its user and expiry.
    public func identity(of token: String?) async -> Result<Identity, TokenProblem> {
        guard let token, !token.isEmpty else { return .failure(.missing) }
        do {
            let claims = try await keys.verify(token, as: NestClaims.self)
            return claims.sub.value.isEmpty ? .failure(.invalid) : .success(Identity(user: claims.sub.value, expiry: claims.exp.value))
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            return .failure(.expired)
        } catch {
            return .failure(.invalid)
        }
    }

    /// The user a valid token names.
    public func user(for token: String?) async -> Result<String, TokenProblem> {
        await identity(of: token).map(\.user)
    }

    /// Issues a token for `user` valid for `ttl` seconds (development and tests).
    public func issue(user: String, ttl: TimeInterval) async throws -> String {
        guard canIssue else { throw ServerStartError(description: "issuing tokens needs NEST_JWT_SECRET") }
        let now = Date()
        return try await keys.sign(NestClaims(sub: .init(value: user), exp: .init(value: now.addingTimeInterval(ttl)), iat: .init(value: now)))
    }
}
