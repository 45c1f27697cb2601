import Foundation

/// A social platform a post can be scheduled on.
public enum Platform: String, Sendable, CaseIterable, Codable, Comparable {
    case instagram, x, linkedin, facebook, tiktok, threads

    /// Parses a platform name, case-insensitively (`twitter` is accepted for `x`).
    public init(name: String) throws(ModelError) {
        let lower = name.lowercased()
        if lower == "twitter" { self = .x; return }
        guard let p = Platform(rawValue: lower) else { throw .unknownPlatform(name) }
        self = p
    }

    /// This platform's rules, from ``PlatformRules/table``.
    public var rules: PlatformRules { PlatformRules.table[self] ?? PlatformRules(captionLimit: 0, hashtagLimit: 0, mediaKinds: []) }

    public static func < (a: Platform, b: Platform) -> Bool { a.rawValue < b.rawValue }
}

/// A kind of media attachment.
public enum MediaKind: String, Sendable, CaseIterable, Codable {
    case image, video, carousel
}

/// What a platform accepts. One table for every check (scheduling, publishing, `nest` output).
public struct PlatformRules: Sendable, Equatable {
    /// Longest caption, in characters (user-perceived, as the platforms count them).
    public let captionLimit: Int
    /// Most hashtags per post.
    public let hashtagLimit: Int
    /// Media kinds the platform takes.
    public let mediaKinds: Set<MediaKind>

    /// The platforms' published limits (2026).
    public static let table: [Platform: PlatformRules] = [
        .instagram: .init(captionLimit: 2_200, hashtagLimit: 30, mediaKinds: [.image, .video, .carousel]),
        .x: .init(captionLimit: 280, hashtagLimit: 10, mediaKinds: [.image, .video]),
        .linkedin: .init(captionLimit: 3_000, hashtagLimit: 30, mediaKinds: [.image, .video, .carousel]),
        .facebook: .init(captionLimit: 63_206, hashtagLimit: 30, mediaKinds: [.image, .video, .carousel]),
        .tiktok: .init(captionLimit: 2_200, hashtagLimit: 30, mediaKinds: [.video, .carousel]),
        .threads: .init(captionLimit: 500, hashtagLimit: 1, mediaKinds: [.image, .video, .carousel]),
    ]

    /// Every way `draft` breaks these rules on `platform`; empty when it may be posted.
    public static func problems(of draft: DraftValue, on platform: Platform) -> [String] {
        let rules = platform.rules
        var out: [String] = []
        let caption = draft.platforms[platform.rawValue]?.caption ?? draft.caption
        let length = caption.count + draft.hashtags.reduce(0) { $0 + $1.count + 2 }
        if length > rules.captionLimit {
            out.append("caption with hashtags is \(length) characters; the limit is \(rules.captionLimit)")
        }
        if draft.hashtags.count > rules.hashtagLimit {
            out.append("\(draft.hashtags.count) hashtags; the limit is \(rules.hashtagLimit)")
        }
        for m in draft.media where !rules.mediaKinds.contains(m.kind) {
            out.append("\(m.kind.rawValue) media (\(m.asset)) is not accepted")
        }
        if caption.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && draft.media.isEmpty {
            out.append("nothing to post: the caption is empty and there is no media")
        }
        return out
    }
}
