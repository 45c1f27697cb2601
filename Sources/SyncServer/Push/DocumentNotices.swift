import CRDT
import Foundation
import Model

/// Something in a document that a person should hear of: a conflict that
/// overwrote their edit, or a comment that mentions them. Read from the
/// document with its projection, so that nothing scans documents for them.
struct DocumentNotice: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// `user`'s value of `key` lost to `actor`'s.
        case conflict(id: String, key: String)
        /// `actor` wrote `@user` in a comment.
        case mention(commentID: String)
    }

    var kind: Kind
    var user: String
    var actor: String
    /// When the document says it happened.
    var at: Date

    /// Notices at most this old are told; older ones (a first projection of an old document) are not news.
    static let freshFor: TimeInterval = 24 * 3600

    /// The notices of a draft (other kinds have none yet). A mention names a
    /// user as `@id` (letters, digits, `.`, `_`, `-`); nobody is told of their own edit or comment.
    static func read(name: DocumentName, doc: Doc, now: Date) -> [DocumentNotice] {
        guard name.kind == .draft else { return [] }
        var out: [DocumentNotice] = []
        for c in ConflictLog.list(doc) where c.isOpen {
            guard let loser = c.loserUser, !loser.isEmpty, loser != c.winnerUser, let at = Self.date(c.detectedAt), now.timeIntervalSince(at) < freshFor else { continue }
            out.append(DocumentNotice(kind: .conflict(id: c.id, key: c.key), user: loser, actor: c.winnerUser ?? "someone", at: at))
        }
        guard let draft = try? Draft(name: name, doc: doc) else { return out }
        for comment in draft.value.comments {
            guard let at = Self.date(comment.at), now.timeIntervalSince(at) < freshFor else { continue }
            for user in Self.mentions(in: comment.text) where user != comment.author {
                out.append(DocumentNotice(kind: .mention(commentID: comment.id), user: user, actor: comment.author, at: at))
            }
        }
        return out
    }

    /// The users `@`-mentioned in a text, each once, in order.
    static func mentions(in text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let at = rest.firstIndex(of: "@") {
            let before = at > text.startIndex ? text[text.index(before: at)] : " "
            rest = rest[rest.index(after: at)...]
            let id = rest.prefix { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }
            let trimmed = String(id.reversed().drop { $0 == "." }.reversed())
            // An address (`ops@example.com`) is not a mention.
            if !trimmed.isEmpty, !(before.isLetter || before.isNumber), !out.contains(trimmed) { out.append(trimmed) }
        }
        return out
    }

    static func date(_ text: String) -> Date? { try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text) }

    /// The notification, naming the draft by its title only.
    func notification(documentID: String, title: String) -> (PushNotification, uniqueKey: String) {
        let draft = title.isEmpty ? documentID : "“\(title.prefix(60))”"
        switch kind {
        case .conflict(let id, let key):
            return (PushNotification(event: .conflict, userID: user, documentID: documentID, title: "\(actor) overwrote your \(key) in \(draft)",
                                     body: "Both versions are kept: choose one with `nest conflicts resolve`.", actor: actor),
                    "push.conflict:\(documentID):\(id):\(user)")
        case .mention(let commentID):
            return (PushNotification(event: .mention, userID: user, documentID: documentID, title: "\(actor) mentioned you in \(draft)",
                                     body: "Open the draft to read the comment.", actor: actor),
                    "push.mention:\(documentID):\(commentID):\(user)")
        }
    }
}
