public import CRDT
import Foundation

/// A named brand colour.
public struct BrandColor: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// `#RRGGBB`, upper case.
    public var hex: String
}

/// A brand font and what it is used for.
public struct BrandFont: Sendable, Equatable, Codable {
    public var family: String
    public var role: String
}

/// A brand kit read as values (also its JSON export).
public struct BrandKitValue: Sendable, Equatable, Codable {
    public var name: String
    public var schema: Int
    public var title: String
    public var colors: [BrandColor]
    public var fonts: [BrandFont]
    public var logos: [MediaRef]
    public var voice: String
    public var bannedWords: [String]
    public var defaultHashtags: [String]
    public var openConflicts: Int
}

/// A workspace's brand kit as a typed view (roots `brandkit`, `colors`,
/// `fonts`, `logos`, `voice`, `bannedWords`, `defaultHashtags`).
public struct BrandKit {
    public let name: DocumentName
    public let doc: Doc

    public init(name: DocumentName, doc: Doc) throws(ModelError) {
        guard name.kind == .brandkit else { throw .wrongKind(expected: .brandkit, found: name.kind.rawValue) }
        self.name = name
        self.doc = doc
        try ModelSchema.prepare(doc, kind: .brandkit)
    }

    /// The brand voice, as rich text.
    public var voice: YText { doc.getText("voice") }

    public func setTitle(_ title: String) throws(ModelError) {
        let clean = try Draft.validTitle(title)
        try edit(doc) { try doc.getMap("brandkit").set("name", .string(clean)) }
    }

    /// Sets a colour by name (`primary`, `accent`, ...). Setting the same
    /// name on two offline devices is a conflict the log keeps.
    public func setColor(name: String, hex: String) throws(ModelError) {
        let clean = try Self.validHex(hex)
        let label = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= 60 else { throw .invalidText("colour name must be 1–60 characters") }
        let id = Self.slug(label)
        try edit(doc) { try doc.getMap("colors").set(id, .object([("name", .string(label)), ("hex", .string(clean))])) }
    }

    public func removeColor(name: String) throws(ModelError) {
        try edit(doc) { try doc.getMap("colors").delete(Self.slug(name)) }
    }

    public func addFont(family: String, role: String) throws(ModelError) {
        let f = family.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !f.isEmpty, f.count <= 100 else { throw .invalidText("font family must be 1–100 characters") }
        guard value.fonts.first(where: { $0.family == f && $0.role == role }) == nil else { return }
        try edit(doc) { try doc.getArray("fonts").push([.value(.object([("family", .string(f)), ("role", .string(role))]))]) }
    }

    /// Replaces the brand voice text.
    public func setVoice(_ text: String) throws(ModelError) {
        try Draft.validText(text)
        try edit(doc) {
            if voice.length > 0 { try voice.delete(0, count: voice.length) }
            if !text.isEmpty { try voice.insert(0, text) }
        }
    }

    public func addBannedWord(_ word: String) throws(ModelError) {
        let w = word.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard !w.isEmpty else { throw .invalidText("the word is empty") }
        guard !value.bannedWords.contains(w) else { return }
        try edit(doc) { try doc.getArray("bannedWords").push([.value(.string(w))]) }
    }

    public func addDefaultHashtag(_ tag: String) throws(ModelError) {
        let t = try Draft.validHashtag(tag)
        guard !value.defaultHashtags.contains(t) else { return }
        try edit(doc) { try doc.getArray("defaultHashtags").push([.value(.string(t))]) }
    }

    public var value: BrandKitValue {
        let cm = doc.getMap("colors")
        let colors: [BrandColor] = cm.keys.compactMap { k in
            guard let o = cm.get(k) as YAny?, let hex = o.string("hex") else { return nil }
            return BrandColor(id: k, name: o.string("name") ?? k, hex: hex)
        }
        let fonts = Draft.objects(doc.getArray("fonts")).compactMap { o in
            o.string("family").map { BrandFont(family: $0, role: o.string("role") ?? "") }
        }
        let logos = Draft.objects(doc.getArray("logos")).compactMap { o in
            o.string("asset").map { MediaRef(asset: $0, kind: .image, alt: o.string("alt") ?? "") }
        }
        return BrandKitValue(
            name: name.description, schema: ModelSchema.version(of: doc),
            title: (doc.getMap("brandkit").get("name") as YAny?)?.stringValue ?? "", colors: colors, fonts: fonts, logos: logos,
            voice: voice.toString(), bannedWords: Draft.objects(doc.getArray("bannedWords")).compactMap(\.stringValue),
            defaultHashtags: Draft.objects(doc.getArray("defaultHashtags")).compactMap(\.stringValue),
            openConflicts: ConflictLog.list(doc).filter(\.isOpen).count
        )
    }

    /// Normalises `#abc`, `ABCDEF`, `#aabbcc` to `#AABBCC`.
    public static func validHex(_ s: String) throws(ModelError) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("#") { t.removeFirst() }
        guard t.count == 3 || t.count == 6, t.allSatisfy(\.isHexDigit) else { throw .invalidHexColor(s) }
        if t.count == 3 { t = t.map { "\($0)\($0)" }.joined() }
        return "#" + t.uppercased()
    }

    static func slug(_ name: String) -> String {
        String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }
}
