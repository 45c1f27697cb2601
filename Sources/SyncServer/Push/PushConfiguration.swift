/// The push relay's settings (`NEST_PUSH_*`, `NEST_VAPID_*`, `NEST_APNS_*`,
/// `NEST_FCM_*`). A provider without credentials is off: its devices get
/// a logged failure instead of a push.
public struct PushConfiguration: Sendable {
    /// PEM file of the P-256 VAPID private key (`openssl ecparam -name prime256v1 -genkey`); nil: Web Push off.
    public var vapidKeyFile: String?
    /// VAPID contact, `mailto:` or `https:`. Default `mailto:push@localhost`.
    public var vapidSubject = "mailto:push@localhost"
    /// APNs: the `.p8` key file, its key id and the team id; all three, or APNs is off.
    public var apnsKeyFile: String?
    public var apnsKeyID: String?
    public var apnsTeamID: String?
    /// Replaces Apple's hosts (a local APNs); nil: api.push.apple.com, or the development host for sandbox tokens.
    public var apnsBaseURL: String?
    /// The Firebase service account JSON key file; nil: FCM off.
    public var fcmServiceAccountFile: String?
    /// Replaces `https://fcm.googleapis.com` (a local FCM).
    public var fcmBaseURL: String?
    /// Extra trusted root certificates (PEM) for provider connections, e.g. a local APNs's.
    public var caFile: String?
    /// Edits to a followed draft within this window make one push. Default 60 s.
    public var editsWindowSeconds = 60
    /// At most one silent push per device this often. Default 20 minutes.
    public var backgroundIntervalSeconds = 20 * 60
    /// Seconds a provider request may take. Default 10.
    public var requestTimeoutSeconds = 10

    public init() {}

    public var summary: String {
        "push: APNs \(apnsKeyFile == nil ? "off" : "on"), FCM \(fcmServiceAccountFile == nil ? "off" : "on"), "
            + "Web Push \(vapidKeyFile == nil ? "off" : "on"), ntfy on, edits window \(editsWindowSeconds) s"
    }
}
