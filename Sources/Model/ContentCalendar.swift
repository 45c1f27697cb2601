public import CRDT
public import Foundation

/// Where a calendar entry is in publishing.
public enum EntryStatus: String, Sendable, CaseIterable, Codable {
    case scheduled, publishing, published, failed, cancelled
}

/// One scheduled post.
public struct CalendarEntry: Sendable, Equatable, Codable {
    public var id: String
    /// The draft's document name.
    public var draft: String
    public var platform: Platform
    /// When to publish, ISO 8601 in UTC.
    public var scheduledAt: String
    /// The IANA time zone the user scheduled in, kept for display.
    public var timezone: String
    public var status: EntryStatus
    public var attempts: Int
    public var result: String?

    /// The scheduled time.
    public var date: Date? { Timestamp.date(scheduledAt) }

    /// The scheduled time in the entry's own time zone, e.g. `2026-12-01 09:30 Europe/Berlin`.
    public var localTime: String {
        guard let d = date, let tz = TimeZone(identifier: timezone) else { return scheduledAt }
        var f = Date.VerbatimFormatStyle(
            format: "\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits)",
            timeZone: tz, calendar: Foundation.Calendar(identifier: .gregorian)
        )
        f.locale = Locale(identifier: "en_US_POSIX")
        return "\(d.formatted(f)) \(timezone)"
    }
}

/// A workspace's content calendar (root map `entries`: entry id → entry).
/// Each entry is one value, so a concurrent move and cancel of the same
/// entry is one conflict the log keeps.
public struct ContentCalendar {
    public let name: DocumentName
    public let doc: Doc

    public init(name: DocumentName, doc: Doc) throws(ModelError) {
        guard name.kind == .calendar else { throw .wrongKind(expected: .calendar, found: name.kind.rawValue) }
        self.name = name
        self.doc = doc
        try ModelSchema.prepare(doc, kind: .calendar)
    }

    var entriesMap: YMap { doc.getMap("entries") }

    /// Schedules `draft` on `platform` at `date` (stored in UTC; `timeZone`
    /// is kept for display). The draft must meet the platform's rules.
    /// Returns the entry id.
    @discardableResult
    public func schedule(draft: Draft, platform: Platform, at date: Date, timeZone: String, now: Date = Date()) throws(ModelError) -> String {
        guard TimeZone(identifier: timeZone) != nil else { throw .unknownTimeZone(timeZone) }
        guard date > now else { throw .scheduledInPast(Timestamp.string(date)) }
        guard !draft.isDeleted else { throw .documentDeleted(draft.name.description) }
        if let problem = draft.problems(on: platform).first { throw .platformRule(platform: platform, problem: problem) }
        let entry = CalendarEntry(
            id: DocumentName.newID(), draft: draft.name.description, platform: platform, scheduledAt: Timestamp.string(date),
            timezone: timeZone, status: .scheduled, attempts: 0, result: nil
        )
        try edit(doc) { try entriesMap.set(entry.id, Self.encode(entry)) }
        return entry.id
    }

    /// Moves an entry to a new time (and optionally a new display time zone).
    public func move(_ id: String, to date: Date, timeZone: String? = nil, now: Date = Date()) throws(ModelError) {
        guard var e = entry(id) else { throw .unknownEntry(id) }
        if let timeZone {
            guard TimeZone(identifier: timeZone) != nil else { throw .unknownTimeZone(timeZone) }
            e.timezone = timeZone
        }
        guard date > now else { throw .scheduledInPast(Timestamp.string(date)) }
        e.scheduledAt = Timestamp.string(date)
        e.status = .scheduled
        try edit(doc) { try entriesMap.set(id, Self.encode(e)) }
    }

    /// Cancels an entry (kept, marked cancelled, so other devices see why it vanished).
    public func cancel(_ id: String) throws(ModelError) {
        guard var e = entry(id) else { throw .unknownEntry(id) }
        e.status = .cancelled
        try edit(doc) { try entriesMap.set(id, Self.encode(e)) }
    }

    public func entry(_ id: String) -> CalendarEntry? {
        (entriesMap.get(id) as YAny?).flatMap { Self.decode(id: id, $0) }
    }

    /// All entries by time.
    public var entries: [CalendarEntry] {
        entriesMap.keys.compactMap(entry).sorted { ($0.scheduledAt, $0.id) < ($1.scheduledAt, $1.id) }
    }

    static func encode(_ e: CalendarEntry) -> YAny {
        var pairs: [(String, YAny)] = [
            ("draft", .string(e.draft)), ("platform", .string(e.platform.rawValue)), ("scheduledAt", .string(e.scheduledAt)),
            ("timezone", .string(e.timezone)), ("status", .string(e.status.rawValue)), ("attempts", .integer(Int64(e.attempts))),
        ]
        if let r = e.result { pairs.append(("result", .string(r))) }
        return .object(pairs)
    }

    static func decode(id: String, _ v: YAny) -> CalendarEntry? {
        guard let draft = v.string("draft"), let p = v.string("platform").flatMap(Platform.init(rawValue:)),
              let at = v.string("scheduledAt") else { return nil }
        return CalendarEntry(
            id: id, draft: draft, platform: p, scheduledAt: at, timezone: v.string("timezone") ?? "UTC",
            status: v.string("status").flatMap(EntryStatus.init(rawValue:)) ?? .scheduled, attempts: v.int("attempts") ?? 0,
            result: v.string("result")
        )
    }
}
