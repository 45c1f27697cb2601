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

/// Why a token was not accepted.
public enum TokenProblem: Error, Sendable, Equatable {
    case missing, invalid, expired
}

/// Verifies and issues HS256 tokens with the server's shared secret.
/// Anything not signed with that key (another key, `alg: none`, another
/// algorithm) is refused.
public actor TokenVerifier {
    private let keys = JWTKeyCollection()

    /// Smallest accepted secret: HS256 keys shorter than the hash are weak.
    public static let minimumSecretBytes = 32

    /// Fails for a secret shorter than ``minimumSecretBytes`` bytes.
    public init(secret: String) async throws(ServerStartError) {
        guard secret.utf8.count >= Self.minimumSecretBytes else {
            throw ServerStartError(description: "the JWT secret must be at least \(Self.minimumSecretBytes) bytes (it has \(secret.utf8.count))")
        }
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// The user a valid token names.
    public func user(for token: String?) async -> Result<String, TokenProblem> {
        guard let token, !token.isEmpty else { return .failure(.missing) }
        do {
            let claims = try await keys.verify(token, as: NestClaims.self)
            return claims.sub.value.isEmpty ? .failure(.invalid) : .success(claims.sub.value)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            return .failure(.expired)
        } catch {
            return .failure(.invalid)
        }
    }

    /// Expiry of a token already verified, to close the connection when it passes.
    public func expiry(of token: String) async -> Date? {
        try? await keys.verify(token, as: NestClaims.self).exp.value
    }

    /// Issues a token for `user` valid for `ttl` seconds (development and tests).
    public func issue(user: String, ttl: TimeInterval) async throws -> String {
        let now = Date()
        return try await keys.sign(NestClaims(sub: .init(value: user), exp: .init(value: now.addingTimeInterval(ttl)), iat: .init(value: now)))
    }
}
