import CRDT
import Foundation
import Model

/// Reads a typed document's projection rows: a pure function of the stored
/// document, so a rebuild from the documents gives the same rows as the
/// live projection did.
enum DocumentProjector {
    /// Why a document has no projection.
    struct Skipped: Error, CustomStringConvertible {
        var description: String
    }

    /// The rows of `stored`, the document `documentID` at its last sequence;
    /// nil for a document that is not a typed one (a plain Yjs document).
    static func project(documentID: String, stored: StoredDocument) throws(Skipped) -> DocumentProjection? {
        try projectWithNotices(documentID: documentID, stored: stored, now: Date())?.0
    }

    /// The rows, and what the document has to tell people (conflicts, mentions) as of `now`.
    static func projectWithNotices(documentID: String, stored: StoredDocument, now: Date) throws(Skipped) -> (DocumentProjection, [DocumentNotice])? {
        guard let name = try? DocumentName(parsing: documentID) else { return nil }
        let doc = Doc()
        do {
            if let s = stored.snapshot { try doc.applyUpdate(s) }
            for u in stored.updates { try doc.applyUpdate(u.update) }
        } catch {
            throw Skipped(description: "\(documentID) does not decode: \(error)")
        }
        return (try project(name: name, doc: doc, version: stored.lastSeq), DocumentNotice.read(name: name, doc: doc, now: now))
    }

    static func project(name: DocumentName, doc: Doc, version: Int) throws(Skipped) -> DocumentProjection {
        var p = DocumentProjection(documentID: name.description, workspace: name.workspace, version: version)
        do {
            switch name.kind {
            case .draft:
                let draft = try Draft(name: name, doc: doc)
                p.drafts = [DraftRow(
                    documentID: p.documentID, workspace: name.workspace, draftID: name.id, title: draft.title,
                    status: draft.isDeleted ? "deleted" : draft.status.rawValue,
                    platforms: doc.getMap("platforms").keys.sorted(), updatedSeq: version)]
                if !draft.isDeleted {
                    p.aiRequests = draft.aiRequests.map {
                        AIRequestRow(documentID: p.documentID, requestID: $0.id, workspace: name.workspace, kind: $0.kind, status: $0.status,
                                     priority: $0.priority ?? "normal")
                    }.sorted { $0.requestID < $1.requestID }
                }
            case .calendar:
                let calendar = try ContentCalendar(name: name, doc: doc)
                p.calendarEntries = calendar.entries.compactMap { e in
                    guard let due = e.date else { return nil }
                    return CalendarEntryRow(workspace: name.workspace, entryID: e.id, draft: e.draft, platform: e.platform.rawValue,
                                            dueAt: epochMillis(due), status: e.status.rawValue)
                }.sorted { $0.entryID < $1.entryID }
            case .brandkit:
                break
            }
        } catch {
            throw Skipped(description: "\(name) is not a readable \(name.kind.rawValue): \(error)")
        }
        return p
    }
}
