public import Foundation

/// A daily window of cheaper provider prices, in UTC (DeepSeek's is
/// 16:30–00:30): low-priority AI requests are scheduled to start in it.
public struct OffPeakWindow: Sendable, Equatable {
    /// Minutes after midnight UTC; `end` may be before `start` (the window crosses midnight).
    public var start: Int
    public var end: Int

    /// Parses `HH:MM-HH:MM` (UTC).
    public init?(parsing text: String) {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        func minutes(_ s: String) -> Int? {
            let hm = s.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
            return h * 60 + m
        }
        guard parts.count == 2, let s = minutes(parts[0]), let e = minutes(parts[1]), s != e else { return nil }
        start = s
        end = e
    }

    /// `date` itself when it falls in the window, else the window's next start.
    public func nextStart(onOrAfter date: Date) -> Date {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let minuteOfDay = (seconds % 86_400) / 60
        let inside = start < end ? (minuteOfDay >= start && minuteOfDay < end) : (minuteOfDay >= start || minuteOfDay < end)
        if inside { return date }
        let midnight = seconds - seconds % 86_400
        var next = midnight + start * 60
        if next <= seconds { next += 86_400 }
        return Date(timeIntervalSince1970: TimeInterval(next))
    }
}
