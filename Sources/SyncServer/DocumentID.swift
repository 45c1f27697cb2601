/// A document name `<workspace>/<kind>/<id>` (ARCHITECTURE.md, Documents).
public struct DocumentID: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of documents a workspace holds.
    public enum Kind: String, Sendable, CaseIterable {
        case draft, brandkit, calendar
    }

    public var workspace: String
    public var kind: Kind
    public var id: String

    /// Parses and validates a document name; nil if it is not one.
    public init?(_ string: String) {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = Kind(rawValue: String(parts[1])) else { return nil }
        // Letters, digits, '-', '_', '.'; starting with a letter or digit (no "..").
        let allowed = { (s: Substring) -> Bool in
            guard let first = s.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
            return s.count <= 128 && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
        }
        guard allowed(parts[0]), allowed(parts[2]) else { return nil }
        workspace = String(parts[0])
        self.kind = kind
        id = String(parts[2])
    }

    public var description: String { "\(workspace)/\(kind.rawValue)/\(id)" }
}
