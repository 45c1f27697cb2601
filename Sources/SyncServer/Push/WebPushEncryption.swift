public import Crypto
import Foundation

/// RFC 8291 message encryption for Web Push, in the `aes128gcm` content
/// coding of RFC 8188: one record, a fresh sender key and salt per message.
public enum WebPushEncryption {
    /// Why a message cannot be encrypted for a subscription.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The request body for `plaintext` to the subscription's key and auth secret.
    /// - Parameters:
    ///   - senderKey, salt: fresh per message; passed in only to reproduce a known vector.
    ///   - padding: zero bytes added after the delimiter, so that lengths say less.
    public static func encrypt(
        _ plaintext: [UInt8], p256dh: [UInt8], auth: [UInt8], padding: Int = 0,
        senderKey: P256.KeyAgreement.PrivateKey = .init(), salt: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }
    ) throws(Failure) -> [UInt8] {
        let recordSize = 4096
        guard salt.count == 16 else { throw Failure(description: "the salt must be 16 bytes") }
        guard auth.count == 16 else { throw Failure(description: "the auth secret must be 16 bytes") }
        // One record: plaintext, the last-record delimiter 0x02, padding, and the 16-byte tag fit in it.
        guard plaintext.count + 1 + padding + 16 <= recordSize - 86 else { throw Failure(description: "the message is too long for one Web Push record") }
        let receiver: P256.KeyAgreement.PublicKey
        do { receiver = try P256.KeyAgreement.PublicKey(x963Representation: p256dh) } catch {
            throw Failure(description: "p256dh is not a P-256 public key")
        }
        let shared: SharedSecret
        do { shared = try senderKey.sharedSecretFromKeyAgreement(with: receiver) } catch {
            throw Failure(description: "key agreement failed")
        }
        let senderPublic = Array(senderKey.publicKey.x963Representation)
        let keyInfo = Array("WebPush: info".utf8) + [0] + p256dh + senderPublic
        let ikm = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: auth, sharedInfo: keyInfo, outputByteCount: 32)
        let contentKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: aes128gcm".utf8) + [0], outputByteCount: 16)
        let nonceKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Array("Content-Encoding: nonce".utf8) + [0], outputByteCount: 12)
        let record = plaintext + [2] + [UInt8](repeating: 0, count: padding)
        let sealed: AES.GCM.SealedBox
        do {
            sealed = try AES.GCM.seal(record, using: contentKey, nonce: AES.GCM.Nonce(data: nonceKey.withUnsafeBytes { Array($0) }))
        } catch {
            throw Failure(description: "encryption failed")
        }
        let rs = UInt32(recordSize)
        let header = salt + [UInt8(rs >> 24), UInt8(rs >> 16 & 0xFF), UInt8(rs >> 8 & 0xFF), UInt8(rs & 0xFF)] + [UInt8(senderPublic.count)] + senderPublic
        return header + Array(sealed.ciphertext) + Array(sealed.tag)
    }
}
