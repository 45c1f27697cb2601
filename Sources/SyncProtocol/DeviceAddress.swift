/// Where a push reaches one device, per provider (PROTOCOL.md section 4.6).
/// Client and server parse it with the same rules, from the same fields.
public enum DeviceAddress: Sendable, Hashable, Codable {
    /// An APNs device token (hex), the app's bundle id, and whether the token is a sandbox one.
    case apns(token: String, topic: String, sandbox: Bool)
    /// An FCM registration token.
    case fcm(token: String)
    /// A Web Push subscription (also what UnifiedPush distributors give): the
    /// endpoint URL and the browser's P-256 key and auth secret, base64url.
    case webPush(endpoint: String, p256dh: String, auth: String)
    /// An ntfy topic URL, with an optional bearer token or `user:password`.
    case ntfy(url: String, auth: String?)

    /// The provider's name on the wire and in commands: `apns`, `fcm`, `webpush` or `ntfy`.
    public var provider: String {
        switch self {
        case .apns: "apns"
        case .fcm: "fcm"
        case .webPush: "webpush"
        case .ntfy: "ntfy"
        }
    }

    /// The providers a device can name.
    public static let providers = ["apns", "fcm", "webpush", "ntfy"]

    /// What identifies the device at its provider: registering the same one
    /// again (by any user) replaces the earlier registration.
    public var identity: String {
        switch self {
        case .apns(let token, let topic, let sandbox): "apns:\(sandbox ? "sandbox" : "production"):\(topic):\(token)"
        case .fcm(let token): "fcm:\(token)"
        case .webPush(let endpoint, _, _): "webpush:\(endpoint)"
        case .ntfy(let url, _): "ntfy:\(url)"
        }
    }

    /// The fields on the wire (`registerDevice`), sorted by name.
    public var fields: [DeviceField] {
        switch self {
        case .apns(let token, let topic, let sandbox): [.init("environment", sandbox ? "sandbox" : "production"), .init("token", token), .init("topic", topic)]
        case .fcm(let token): [.init("token", token)]
        case .webPush(let endpoint, let p256dh, let auth): [.init("auth", auth), .init("endpoint", endpoint), .init("p256dh", p256dh)]
        case .ntfy(let url, let auth): auth.map { [.init("auth", $0), .init("url", url)] } ?? [.init("url", url)]
        }
    }

    /// Parses and checks a provider's fields; a missing or malformed one throws
    /// ``DeviceAddressError`` naming it.
    public init(provider: String, fields: [DeviceField]) throws(DeviceAddressError) {
        var f: [String: String] = [:]
        for field in fields {
            guard f.updateValue(field.value, forKey: field.name) == nil else { throw DeviceAddressError("field \(field.name) given twice") }
        }
        func take(_ key: String) throws(DeviceAddressError) -> String {
            guard let v = f.removeValue(forKey: key), !v.isEmpty else { throw DeviceAddressError("\(provider): missing \(key)") }
            return v
        }
        switch provider {
        case "apns":
            let token = try take("token").lowercased()
            guard token.count >= 32, token.count <= 200, token.count % 2 == 0, token.allSatisfy(\.isHexDigit) else {
                throw DeviceAddressError("apns: the token must be hex (as the app received it from APNs)")
            }
            let topic = try take("topic")
            let env = f.removeValue(forKey: "environment") ?? "production"
            guard env == "production" || env == "sandbox" else { throw DeviceAddressError("apns: environment must be production or sandbox") }
            self = .apns(token: token, topic: topic, sandbox: env == "sandbox")
        case "fcm":
            let token = try take("token")
            guard token.count <= 4096, !token.contains(where: \.isWhitespace) else { throw DeviceAddressError("fcm: malformed registration token") }
            self = .fcm(token: token)
        case "webpush":
            let endpoint = try take("endpoint")
            guard Self.isHTTPURL(endpoint) else { throw DeviceAddressError("webpush: the endpoint must be an http(s) URL") }
            let p256dh = try take("p256dh"), auth = try take("auth")
            guard let key = Base64URL.decode(p256dh), key.count == 65, key[0] == 4 else {
                throw DeviceAddressError("webpush: p256dh must be an uncompressed P-256 public key, base64url (65 bytes)")
            }
            guard let secret = Base64URL.decode(auth), secret.count == 16 else { throw DeviceAddressError("webpush: auth must be 16 bytes, base64url") }
            self = .webPush(endpoint: endpoint, p256dh: p256dh, auth: auth)
        case "ntfy":
            let url = try take("url")
            guard Self.isHTTPURL(url) else { throw DeviceAddressError("ntfy: the topic URL must be an http(s) URL") }
            self = .ntfy(url: url, auth: f.removeValue(forKey: "auth"))
        default:
            throw DeviceAddressError("unknown provider \(provider) (one of: \(Self.providers.joined(separator: ", ")))")
        }
        if let extra = f.keys.sorted().first { throw DeviceAddressError("\(provider): unknown field \(extra)") }
    }

    private static func isHTTPURL(_ s: String) -> Bool {
        (s.hasPrefix("https://") || s.hasPrefix("http://")) && s.count <= 2048 && !s.contains(where: \.isWhitespace)
    }
}

/// Why a device address was refused.
public struct DeviceAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Base64url without padding (RFC 4648 section 5), as Web Push keys are written.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var it = bytes.makeIterator()
        while let a = it.next() {
            let b = it.next(), c = it.next()
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 3) << 4 | (b ?? 0) >> 4)])
            if let b { out.append(alphabet[Int((b & 15) << 2 | (c ?? 0) >> 6)]) }
            if let c { out.append(alphabet[Int(c & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url, with or without padding (standard `+/` accepted too); nil if malformed.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for ch in text.utf8 {
            switch ch {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(ch - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(ch - 71)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(ch + 4)
            case UInt8(ascii: "-"), UInt8(ascii: "+"): values.append(62)
            case UInt8(ascii: "_"), UInt8(ascii: "/"): values.append(63)
            case UInt8(ascii: "="): continue
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var i = 0
        while i < values.count {
            let n = min(4, values.count - i)
            let v = (0..<4).map { $0 < n ? UInt32(values[i + $0]) : 0 }
            let word = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]
            out.append(UInt8(word >> 16 & 0xFF))
            if n > 2 { out.append(UInt8(word >> 8 & 0xFF)) }
            if n > 3 { out.append(UInt8(word & 0xFF)) }
            i += 4
        }
        return out
    }
}
