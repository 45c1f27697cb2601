public import Foundation
public import SyncProtocol
import Crypto

/// What happened that a user may be told of by a push.
public struct PushEvent: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// An AI suggestion the user asked for is in the draft.
    public static let aiReady = PushEvent(rawValue: "ai.ready")
    /// An AI request of the user's failed.
    public static let aiFailed = PushEvent(rawValue: "ai.failed")
    /// A post of the user's went out.
    public static let published = PushEvent(rawValue: "publish.done")
    /// A post of the user's failed to go out.
    public static let publishFailed = PushEvent(rawValue: "publish.failed")
    /// Someone's edit overwrote one of the user's in a document (a conflict).
    public static let conflict = PushEvent(rawValue: "conflict")
    /// The user was mentioned in a draft.
    public static let mention = PushEvent(rawValue: "mention")
    /// Collaborators edited a draft the user follows (coalesced).
    public static let edits = PushEvent(rawValue: "edits")
    /// Silent: documents changed, sync before the app is opened.
    public static let background = PushEvent(rawValue: "background")

    /// `nest-server push test`: sent whatever the preferences say.
    public static let test = PushEvent(rawValue: "test")

    public static let all: [PushEvent] = [.aiReady, .aiFailed, .published, .publishFailed, .conflict, .mention, .edits, .background]
    public var description: String { rawValue }
    /// Whether the push shows nothing to the user (only wakes the app).
    public var isSilent: Bool { self == .background }
}

/// A notification for one user, before it is sent to that user's devices.
public struct PushNotification: Sendable, Codable, Equatable {
    public var event: PushEvent
    public var userID: String
    /// The document it is about (empty when none).
    public var documentID: String
    /// Short; names the document and the actor, never more of a draft than its title.
    public var title: String
    public var body: String
    /// Who caused it (empty for the server).
    public var actor: String

    public init(event: PushEvent, userID: String, documentID: String, title: String, body: String, actor: String) {
        self.event = event
        self.userID = userID
        self.documentID = documentID
        self.title = title
        self.body = body
        self.actor = actor
    }

    /// The payload of the in-band `event` message and of a push's data.
    public var payloadJSON: String {
        let o: [String: String] = ["title": title, "body": body, "documentID": documentID, "actor": actor]
        return (try? String(decoding: PushJSON.sortedEncoder.encode(o), as: UTF8.self)) ?? "{}"
    }
}

/// A device registered for pushes.
public struct RegisteredDevice: Sendable, Codable, Equatable {
    public var id: String
    public var userID: String
    public var address: DeviceAddress
    /// Milliseconds since 1970.
    public var registeredAt: Int64
    /// When the provider said the address is gone (or the user removed it); nil while active.
    public var droppedAt: Int64?
    public var dropReason: String?

    public init(id: String, userID: String, address: DeviceAddress, registeredAt: Int64, droppedAt: Int64? = nil, dropReason: String? = nil) {
        self.id = id
        self.userID = userID
        self.address = address
        self.registeredAt = registeredAt
        self.droppedAt = droppedAt
        self.dropReason = dropReason
    }

    /// The id an address always gets: registering it again (after a reinstall, or by another user) finds the same row.
    public static func id(for address: DeviceAddress) -> String {
        "dv_" + SHA256.hash(data: Data(address.identity.utf8)).prefix(10).map { String(format: "%02x", $0) }.joined()
    }
}

/// Hours in the user's time zone when pushes that show something wait (silent ones still go).
public struct QuietHours: Sendable, Codable, Equatable {
    /// Minutes after midnight, local time; `start > end` spans midnight.
    public var startMinute: Int
    public var endMinute: Int
    /// An IANA zone, e.g. `Europe/Berlin`.
    public var timeZone: String

    public init(startMinute: Int, endMinute: Int, timeZone: String) {
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.timeZone = timeZone
    }

    /// Parses `22:00-07:00`.
    public init?(range: String, timeZone: String) {
        let parts = range.split(separator: "-")
        guard parts.count == 2, let a = Self.minute(parts[0]), let b = Self.minute(parts[1]), a != b, TimeZone(identifier: timeZone) != nil else { return nil }
        self.init(startMinute: a, endMinute: b, timeZone: timeZone)
    }

    private static func minute(_ s: Substring) -> Int? {
        let hm = s.split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    public var range: String { String(format: "%02d:%02d-%02d:%02d", startMinute / 60, startMinute % 60, endMinute / 60, endMinute % 60) }

    /// When the quiet period that contains `now` ends, or nil when `now` is not quiet.
    public func end(after now: Date) -> Date? {
        guard let zone = TimeZone(identifier: timeZone) else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let c = cal.dateComponents([.hour, .minute], from: now)
        let minute = (c.hour ?? 0) * 60 + (c.minute ?? 0)
        let quiet = startMinute < endMinute ? (minute >= startMinute && minute < endMinute) : (minute >= startMinute || minute < endMinute)
        guard quiet else { return nil }
        // The next time the local clock shows the end: a DST change in between moves it, as the user's clock does.
        return cal.nextDate(after: now, matching: DateComponents(hour: endMinute / 60, minute: endMinute % 60, second: 0), matchingPolicy: .nextTime)
    }
}

/// What a user wants pushed.
public struct PushPreferences: Sendable, Codable, Equatable {
    public var events: Set<PushEvent>
    public var quietHours: QuietHours?

    /// Every event, no quiet hours.
    public static let `default` = PushPreferences(events: Set(PushEvent.all), quietHours: nil)

    public init(events: Set<PushEvent>, quietHours: QuietHours?) {
        self.events = events
        self.quietHours = quietHours
    }
}

/// One delivery attempt's outcome, kept for `nest-server push log`.
public struct PushDelivery: Sendable, Codable, Equatable {
    public var userID: String
    public var deviceID: String
    public var provider: String
    public var event: PushEvent
    public var documentID: String
    /// `delivered`, `in-band`, `dropped`, `failed`, `retry`, `muted`, `skipped`.
    public var outcome: String
    /// The provider's id or reason, never a credential.
    public var detail: String
    public var jobID: Int64
    public var at: Int64

    public init(userID: String, deviceID: String, provider: String, event: PushEvent, documentID: String, outcome: String, detail: String, jobID: Int64, at: Int64) {
        self.userID = userID
        self.deviceID = deviceID
        self.provider = provider
        self.event = event
        self.documentID = documentID
        self.outcome = outcome
        self.detail = detail
        self.jobID = jobID
        self.at = at
    }
}
