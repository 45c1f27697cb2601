import Foundation

/// What a provider said of one push.
public enum PushOutcome: Sendable, Equatable {
    /// Accepted; the provider's id for it, when it gives one.
    case delivered(String)
    /// The address is gone (uninstalled, unsubscribed): drop the device, unless
    /// it was registered again after the time the provider names (ms since 1970).
    case gone(String, since: Int64?)
    /// Try again later (429, 5xx, timeouts), at the earliest after `after`.
    case retry(String, after: Duration?)
    /// No retry mends it (a refused payload, bad credentials).
    case failed(String)
}

/// A push service (APNs, FCM, Web Push, ntfy): sends one notification to one device.
public protocol PushProvider: Sendable {
    func send(_ notification: PushNotification, to device: RegisteredDevice) async -> PushOutcome
}

/// Reads an HTTP `Retry-After` value: seconds, or an HTTP date.
enum RetryAfterHeader {
    static func parse(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let s = Int(value), s >= 0 { return .seconds(s) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: value) else { return nil }
        return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
    }
}
