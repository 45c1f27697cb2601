public import CRDT
public import Foundation

/// Where a draft is in its life.
public enum DraftStatus: String, Sendable, CaseIterable, Codable {
    case draft, in_review, approved, scheduled, published, failed

    /// Parses a status name (`in-review` is accepted too).
    public init(name: String) throws(ModelError) {
        guard let s = DraftStatus(rawValue: name.replacingOccurrences(of: "-", with: "_").lowercased()) else {
            throw .unknownStatus(name)
        }
        self = s
    }
}

/// A media attachment of a draft.
public struct MediaRef: Sendable, Equatable, Codable {
    public var asset: String
    public var kind: MediaKind
    public var alt: String
}

/// Per-platform settings of a draft.
public struct PlatformSettings: Sendable, Equatable, Codable {
    /// A caption used on this platform instead of the main one.
    public var caption: String?
}

/// A comment on a draft.
public struct Comment: Sendable, Equatable, Codable {
    public var id: String
    public var author: String
    public var text: String
    public var at: String
}

/// A draft read as plain Swift values (also its JSON export).
public struct DraftValue: Sendable, Equatable, Codable {
    public var name: String
    public var schema: Int
    public var title: String
    public var caption: String
    public var status: DraftStatus
    public var hashtags: [String]
    public var platforms: [String: PlatformSettings]
    public var media: [MediaRef]
    public var comments: [Comment]
    public var ai: [AIRequest]
    public var createdAt: String?
    public var deleted: Bool
    public var openConflicts: Int
}

/// A post draft as a typed view over its CRDT document (roots `draft`,
/// `caption`, `hashtags`, `platforms`, `media`, `comments`, `ai`).
/// Every method is one transaction, so one update on the wire.
public struct Draft {
    public let name: DocumentName
    public let doc: Doc

    /// Opens the draft in `doc`, preparing the schema of a new document.
    public init(name: DocumentName, doc: Doc) throws(ModelError) {
        guard name.kind == .draft else { throw .wrongKind(expected: .draft, found: name.kind.rawValue) }
        self.name = name
        self.doc = doc
        try ModelSchema.prepare(doc, kind: .draft)
    }

    var fields: YMap { doc.getMap("draft") }
    /// The rich-text caption (Yjs root text `caption`).
    public var caption: YText { doc.getText("caption") }
    var hashtagList: YArray { doc.getArray("hashtags") }

    /// Sets up a new draft: title, creation time, status `draft`.
    public func create(title: String, now: Date = Date()) throws(ModelError) {
        let clean = try Self.validTitle(title)
        try edit(doc) {
            try fields.set("title", .string(clean))
            try fields.set("status", .string(DraftStatus.draft.rawValue))
            try fields.set("createdAt", .string(Timestamp.string(now)))
        }
    }

    public func setTitle(_ title: String) throws(ModelError) {
        let clean = try Self.validTitle(title)
        try edit(doc) { try fields.set("title", .string(clean)) }
    }

    public func setStatus(_ status: DraftStatus) throws(ModelError) {
        try edit(doc) { try fields.set("status", .string(status.rawValue)) }
    }

    /// Appends text to the caption.
    public func appendCaption(_ text: String) throws(ModelError) {
        try Self.validText(text)
        try edit(doc) { try caption.insert(caption.length, text) }
    }

    /// Inserts text at a character (not UTF-16) position of the caption.
    public func insertCaption(_ text: String, atCharacter position: Int) throws(ModelError) {
        try Self.validText(text)
        let count = caption.toString().count
        guard position >= 0, position <= count else { throw .invalidText("position \(position) is outside the caption (0...\(count))") }
        try edit(doc) { try caption.insert(atCharacter: position, text) }
    }

    /// Replaces the whole caption.
    public func replaceCaption(_ text: String) throws(ModelError) {
        try Self.validText(text)
        try edit(doc) {
            if caption.length > 0 { try caption.delete(0, count: caption.length) }
            if !text.isEmpty { try caption.insert(0, text) }
        }
    }

    /// Adds hashtags (without `#`), skipping ones already present.
    public func addHashtags(_ tags: [String]) throws(ModelError) {
        let clean = try tags.map { t throws(ModelError) in try Self.validHashtag(t) }
        var existing = Set(hashtags)
        let new = clean.filter { existing.insert($0).inserted }
        guard !new.isEmpty else { return }
        try edit(doc) { try hashtagList.push(new.map { .value(.string($0)) }) }
    }

    public func removeHashtag(_ tag: String) throws(ModelError) {
        let clean = try Self.validHashtag(tag)
        try edit(doc) {
            while let i = hashtags.firstIndex(of: clean) { try hashtagList.delete(i, count: 1) }
        }
    }

    /// Turns a platform on for this draft, optionally with its own caption.
    public func setPlatform(_ platform: Platform, caption: String? = nil) throws(ModelError) {
        var pairs: [(String, YAny)] = []
        if let caption { try Self.validText(caption); pairs.append(("caption", .string(caption))) }
        try edit(doc) { try doc.getMap("platforms").set(platform.rawValue, .object(pairs)) }
    }

    public func removePlatform(_ platform: Platform) throws(ModelError) {
        try edit(doc) { try doc.getMap("platforms").delete(platform.rawValue) }
    }

    public func addMedia(asset: String, kind: MediaKind, alt: String) throws(ModelError) {
        guard !asset.isEmpty else { throw .invalidText("media asset reference is empty") }
        try edit(doc) {
            try doc.getArray("media").push([.value(.object([("asset", .string(asset)), ("kind", .string(kind.rawValue)), ("alt", .string(alt))]))])
        }
    }

    public func addComment(author: String, text: String, now: Date = Date()) throws(ModelError) {
        try Self.validText(text)
        let c: YAny = .object([("id", .string(DocumentName.newID())), ("author", .string(author)), ("text", .string(text)), ("at", .string(Timestamp.string(now)))])
        try edit(doc) { try doc.getArray("comments").push([.value(c)]) }
    }

    /// Marks the draft deleted.
    public func delete() throws(ModelError) { try ModelSchema.markDeleted(doc) }

    // MARK: Reading

    public var title: String { (fields.get("title") as YAny?)?.stringValue ?? "" }
    public var status: DraftStatus { (fields.get("status") as YAny?)?.stringValue.flatMap(DraftStatus.init(rawValue:)) ?? .draft }
    public var hashtags: [String] {
        guard case .array(let items) = hashtagList.toJSON() else { return [] }
        return items.compactMap(\.stringValue)
    }
    public var isDeleted: Bool { ModelSchema.isDeleted(doc) }

    /// The whole draft as values.
    public var value: DraftValue {
        var platforms: [String: PlatformSettings] = [:]
        let pm = doc.getMap("platforms")
        for k in pm.keys { platforms[k] = PlatformSettings(caption: (pm.get(k) as YAny?)?.string("caption")) }
        let media: [MediaRef] = Self.objects(doc.getArray("media")).compactMap { o in
            guard let a = o.string("asset") else { return nil }
            return MediaRef(asset: a, kind: o.string("kind").flatMap(MediaKind.init(rawValue:)) ?? .image, alt: o.string("alt") ?? "")
        }
        let comments: [Comment] = Self.objects(doc.getArray("comments")).map { o in
            Comment(id: o.string("id") ?? "", author: o.string("author") ?? "", text: o.string("text") ?? "", at: o.string("at") ?? "")
        }
        let ai = aiRequests
        return DraftValue(
            name: name.description, schema: ModelSchema.version(of: doc), title: title, caption: caption.toString(), status: status,
            hashtags: hashtags, platforms: platforms, media: media, comments: comments, ai: ai,
            createdAt: (fields.get("createdAt") as YAny?)?.stringValue, deleted: isDeleted,
            openConflicts: ConflictLog.list(doc).filter(\.isOpen).count
        )
    }

    /// Every way this draft breaks `platform`'s rules.
    public func problems(on platform: Platform) -> [String] { PlatformRules.problems(of: value, on: platform) }

    static func objects(_ a: YArray) -> [YAny] {
        guard case .array(let items) = a.toJSON() else { return [] }
        return items
    }

    static func validTitle(_ s: String) throws(ModelError) -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty else { throw .invalidTitle("it is empty") }
        guard t.count <= 200 else { throw .invalidTitle("\(t.count) characters; at most 200") }
        guard !t.contains(where: \.isNewline) else { throw .invalidTitle("it has a line break") }
        return t
    }

    static func validText(_ s: String) throws(ModelError) {
        guard s.count <= 100_000 else { throw .invalidText("\(s.count) characters; at most 100,000 per edit") }
    }

    static func validHashtag(_ s: String) throws(ModelError) -> String {
        let t = s.hasPrefix("#") ? String(s.dropFirst()) : s
        guard !t.isEmpty, t.count <= 100, t.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { throw .invalidHashtag(s) }
        return t
    }
}
