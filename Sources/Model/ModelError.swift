/// Why an edit or a read of a typed document was refused. Nothing is changed
/// when one of these is thrown.
///
/// A struct over a code (as `CRDTError` is) so that new kinds can be added
/// without breaking callers; match with `error.code == .invalidTitle`.
public struct ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A stable, matchable kind of refusal.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidDocumentName = Code(rawValue: "invalid_document_name")
        public static let wrongKind = Code(rawValue: "wrong_kind")
        public static let newerSchema = Code(rawValue: "newer_schema")
        public static let invalidHexColor = Code(rawValue: "invalid_hex_color")
        public static let unknownPlatform = Code(rawValue: "unknown_platform")
        public static let unknownTimeZone = Code(rawValue: "unknown_time_zone")
        public static let invalidTitle = Code(rawValue: "invalid_title")
        public static let invalidText = Code(rawValue: "invalid_text")
        public static let invalidHashtag = Code(rawValue: "invalid_hashtag")
        public static let scheduledInPast = Code(rawValue: "scheduled_in_past")
        public static let unknownEntry = Code(rawValue: "unknown_entry")
        public static let unknownConflict = Code(rawValue: "unknown_conflict")
        public static let unknownAIRequest = Code(rawValue: "unknown_ai_request")
        public static let unknownStatus = Code(rawValue: "unknown_status")
        public static let platformRule = Code(rawValue: "platform_rule")
        public static let documentDeleted = Code(rawValue: "document_deleted")
        public static let engine = Code(rawValue: "engine")
    }

    /// What kind of refusal.
    public var code: Code
    /// What to tell the user, with what to do about it.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func invalidDocumentName(_ name: String) -> ModelError {
        ModelError(.invalidDocumentName, "invalid document name \"\(name)\": expected <workspace>/<draft|brandkit|calendar>/<id>, the workspace and id each 1-128 letters, digits, - _ . starting with a letter or digit")
    }
    public static func wrongKind(expected: DocumentKind, found: String) -> ModelError {
        ModelError(.wrongKind, "document is a \(found), not a \(expected.rawValue)")
    }
    public static func newerSchema(found: Int, supported: Int) -> ModelError {
        ModelError(.newerSchema, "document has schema version \(found); this client reads up to \(supported) — update nest")
    }
    public static func invalidHexColor(_ s: String) -> ModelError { ModelError(.invalidHexColor, "invalid colour \"\(s)\": use #RRGGBB or #RGB") }
    public static func unknownPlatform(_ s: String) -> ModelError {
        ModelError(.unknownPlatform, "unknown platform \"\(s)\": use one of \(Platform.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    public static func unknownTimeZone(_ s: String) -> ModelError {
        ModelError(.unknownTimeZone, "unknown time zone \"\(s)\": use an IANA name such as Europe/Berlin")
    }
    public static func invalidTitle(_ why: String) -> ModelError { ModelError(.invalidTitle, "invalid title: \(why)") }
    public static func invalidText(_ why: String) -> ModelError { ModelError(.invalidText, "invalid text: \(why)") }
    public static func invalidHashtag(_ s: String) -> ModelError {
        ModelError(.invalidHashtag, "invalid hashtag \"\(s)\": letters, digits and _ only, at most 100 characters")
    }
    public static func scheduledInPast(_ s: String) -> ModelError { ModelError(.scheduledInPast, "cannot schedule at \(s): that time has passed") }
    public static func unknownEntry(_ s: String) -> ModelError { ModelError(.unknownEntry, "no calendar entry \"\(s)\"") }
    public static func unknownConflict(_ s: String) -> ModelError { ModelError(.unknownConflict, "no conflict \"\(s)\"") }
    public static func unknownAIRequest(_ s: String) -> ModelError { ModelError(.unknownAIRequest, "no AI request \"\(s)\" in this draft") }
    public static func unknownStatus(_ s: String) -> ModelError {
        ModelError(.unknownStatus, "unknown status \"\(s)\": use one of \(DraftStatus.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    public static func platformRule(platform: Platform, problem: String) -> ModelError { ModelError(.platformRule, "\(platform.rawValue): \(problem)") }
    public static func documentDeleted(_ s: String) -> ModelError { ModelError(.documentDeleted, "document \(s) was deleted") }
    public static func engine(_ s: String) -> ModelError { ModelError(.engine, "document engine: \(s)") }
}
