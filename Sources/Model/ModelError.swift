/// Why an edit or a read of a typed document was refused. Nothing is changed
/// when one of these is thrown.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidDocumentName(String)
    case wrongKind(expected: DocumentKind, found: String)
    case newerSchema(found: Int, supported: Int)
    case invalidHexColor(String)
    case unknownPlatform(String)
    case unknownTimeZone(String)
    case invalidTitle(String)
    case invalidText(String)
    case invalidHashtag(String)
    case scheduledInPast(String)
    case unknownEntry(String)
    case unknownConflict(String)
    case unknownAIRequest(String)
    case unknownStatus(String)
    case platformRule(platform: Platform, problem: String)
    case documentDeleted(String)
    case engine(String)

    public var description: String {
        switch self {
        case .invalidDocumentName(let n):
            return "invalid document name \"\(n)\": expected <workspace>/<draft|brandkit|calendar>/<id>, the workspace and id each 1-128 letters, digits, - _ . starting with a letter or digit"
        case .wrongKind(let expected, let found): return "document is a \(found), not a \(expected.rawValue)"
        case .newerSchema(let found, let supported):
            return "document has schema version \(found); this client reads up to \(supported) — update nest"
        case .invalidHexColor(let s): return "invalid colour \"\(s)\": use #RRGGBB or #RGB"
        case .unknownPlatform(let s): return "unknown platform \"\(s)\": use one of \(Platform.allCases.map(\.rawValue).joined(separator: ", "))"
        case .unknownTimeZone(let s): return "unknown time zone \"\(s)\": use an IANA name such as Europe/Berlin"
        case .invalidTitle(let why): return "invalid title: \(why)"
        case .invalidText(let why): return "invalid text: \(why)"
        case .invalidHashtag(let s): return "invalid hashtag \"\(s)\": letters, digits and _ only, at most 100 characters"
        case .scheduledInPast(let s): return "cannot schedule at \(s): that time has passed"
        case .unknownEntry(let s): return "no calendar entry \"\(s)\""
        case .unknownConflict(let s): return "no conflict \"\(s)\""
        case .unknownAIRequest(let s): return "no AI request \"\(s)\" in this draft"
        case .unknownStatus(let s): return "unknown status \"\(s)\": use one of \(DraftStatus.allCases.map(\.rawValue).joined(separator: ", "))"
        case .platformRule(let p, let problem): return "\(p.rawValue): \(problem)"
        case .documentDeleted(let s): return "document \(s) was deleted"
        case .engine(let s): return "document engine: \(s)"
        }
    }
}
