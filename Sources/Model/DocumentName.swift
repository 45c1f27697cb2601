/// The kinds of document a workspace holds.
public enum DocumentKind: String, Sendable, CaseIterable, Codable {
    case draft, brandkit, calendar
}

/// A document's name, `<workspace>/<kind>/<id>` (ARCHITECTURE.md, Documents;
/// PROTOCOL.md section 1). The one rule for what a document name is: the
/// client makes names with it and the server accepts names with it, so a name
/// one side makes is never refused by the other for its form.
public struct DocumentName: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public let workspace: String
    public let kind: DocumentKind
    public let id: String

    /// Builds a name; the workspace and the id must each be 1–128 ASCII letters,
    /// digits, `-`, `_` or `.`, starting with a letter or a digit.
    public init(workspace: String, kind: DocumentKind, id: String) throws(ModelError) {
        let text = "\(workspace)/\(kind.rawValue)/\(id)"
        guard Self.isPart(workspace), Self.isPart(id) else { throw .invalidDocumentName(text) }
        self.workspace = workspace
        self.kind = kind
        self.id = id
    }

    /// Parses `<workspace>/<kind>/<id>`.
    public init(parsing text: String) throws(ModelError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let kind = DocumentKind(rawValue: parts[1]) else { throw .invalidDocumentName(text) }
        try self.init(workspace: parts[0], kind: kind, id: parts[2])
    }

    /// The workspace's one calendar.
    public static func calendar(workspace: String) throws(ModelError) -> DocumentName {
        try DocumentName(workspace: workspace, kind: .calendar, id: "main")
    }

    /// The workspace's brand kit (one per workspace in this version).
    public static func brandKit(workspace: String) throws(ModelError) -> DocumentName {
        try DocumentName(workspace: workspace, kind: .brandkit, id: "main")
    }

    public var description: String { "\(workspace)/\(kind.rawValue)/\(id)" }

    public static func < (a: DocumentName, b: DocumentName) -> Bool { a.description < b.description }

    /// Whether `s` may be a workspace or an id. Starting with a letter or a
    /// digit keeps `.`, `..` and hidden-file-like names out of paths and URLs.
    public static func isPart(_ s: String) -> Bool {
        let bytes = s.utf8
        guard let first = bytes.first, bytes.count <= 128, isLetterOrDigit(first) else { return false }
        return bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isLetterOrDigit(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    /// A new random id: 12 lowercase letters and digits.
    public static func newID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }
}
