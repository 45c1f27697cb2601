/// The kinds of document a workspace holds.
public enum DocumentKind: String, Sendable, CaseIterable, Codable {
    case draft, brandkit, calendar
}

/// A document's name, `<workspace>/<kind>/<id>` (ARCHITECTURE.md, Documents).
public struct DocumentName: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public let workspace: String
    public let kind: DocumentKind
    public let id: String

    /// Builds a name; each part must be 1–100 characters of letters, digits, `-`, `_` or `.`.
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

    static func isPart(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 100 && s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "."
        } && s != "." && s != ".."
    }

    /// A new random id: 12 lowercase letters and digits.
    public static func newID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<12).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
    }
}
