import CRDT

/// Documents kept in memory between edits of one process, each with the
/// last update row it includes, so an edit does not re-read and re-apply
/// the whole stored log (the edit-latency target is under a millisecond).
/// Only touched under SQLite's write lock, inside ``LocalStore/edit(_:user:now:_:)``.
final class EditCache: @unchecked Sendable {
    private var entries: [String: (doc: Doc, through: Int)] = [:]
    private var order: [String] = []
    private let capacity = 64

    func get(_ name: String) -> (Doc, Int)? { entries[name].map { ($0.doc, $0.through) } }

    func store(_ name: String, _ doc: Doc, through: Int) {
        if entries[name] == nil {
            order.append(name)
            if order.count > capacity { entries[order.removeFirst()] = nil }
        }
        entries[name] = (doc, through)
    }

    func remove(_ name: String) {
        entries[name] = nil
        order.removeAll { $0 == name }
    }
}
