public import CRDT
public import Foundation

/// One concurrent overwrite kept in a document's conflict log: both values,
/// who wrote them, and whether a person has chosen.
public struct ConflictRecord: Sendable, Equatable, Codable {
    /// Stable id: the same conflict seen by two replicas gets the same id.
    public var id: String
    /// The map holding the key, from the root (e.g. `draft`, `colors`, `entries`).
    public var path: String
    public var key: String
    /// The value every replica shows, as JSON text.
    public var winner: String
    /// The value that lost, as JSON text.
    public var loser: String
    public var winnerUser: String?
    public var loserUser: String?
    public var winnerClient: Int
    public var loserClient: Int
    public var detectedAt: String
    /// `open` or `resolved`.
    public var status: String
    public var resolvedBy: String?
    public var resolvedAt: String?
    /// The value chosen on resolution, as JSON text.
    public var chosen: String?

    public var isOpen: Bool { status == "open" }
}

/// Which value a resolution keeps.
public enum ConflictChoice: Sendable, Equatable {
    case winner, loser
    /// Any other value, as JSON text.
    case value(String)
}

/// The conflict log of a document (root map `conflicts`).
public enum ConflictLog {
    /// Roots whose own concurrent writes are bookkeeping, not user conflicts.
    static let ignoredRoots: Set<String> = ["conflicts", "authors", "meta"]

    /// Records `conflicts` (from ``Transaction/conflicts`` of applied remote
    /// updates) in the document as one local edit. Returns the new records;
    /// already-recorded ones (the other replica saw it too) are skipped.
    @discardableResult
    public static func record(_ conflicts: [MapConflict], in doc: Doc, at now: Date = Date()) throws(ModelError) -> [ConflictRecord] {
        var added: [ConflictRecord] = []
        let log = doc.getMap("conflicts")
        for c in conflicts {
            guard let root = c.path.first, !ignoredRoots.contains(root.description) else { continue }
            let winner = JSONText.stringify(c.winner)
            let loser = JSONText.stringify(c.loser)
            if winner == loser { continue }
            let path = c.path.map(\.description).joined(separator: "/")
            let id = stableID("\(path)|\(c.key)|\(c.winnerClient)|\(winner)|\(c.loserClient)|\(loser)")
            if log.has(id) || added.contains(where: { $0.id == id }) { continue }
            added.append(ConflictRecord(
                id: id, path: path, key: c.key, winner: winner, loser: loser,
                winnerUser: ModelSchema.author(of: c.winnerClient, in: doc), loserUser: ModelSchema.author(of: c.loserClient, in: doc),
                winnerClient: c.winnerClient, loserClient: c.loserClient, detectedAt: Timestamp.string(now), status: "open",
                resolvedBy: nil, resolvedAt: nil, chosen: nil
            ))
        }
        guard !added.isEmpty else { return [] }
        try edit(doc) {
            for r in added { try log.set(r.id, encode(r)) }
        }
        return added
    }

    /// Every recorded conflict, open ones first, then by detection time.
    public static func list(_ doc: Doc) -> [ConflictRecord] {
        let log = doc.getMap("conflicts")
        return log.keys.compactMap { k in (log.get(k) as YAny?).flatMap { decode(id: k, $0) } }
            .sorted { ($0.isOpen ? 0 : 1, $0.detectedAt, $0.id) < ($1.isOpen ? 0 : 1, $1.detectedAt, $1.id) }
    }

    /// Resolves a conflict: sets the key to the chosen value and marks the
    /// record resolved, in one edit that syncs like any other.
    public static func resolve(_ id: String, choice: ConflictChoice, by user: String, in doc: Doc, at now: Date = Date()) throws(ModelError) {
        let log = doc.getMap("conflicts")
        guard let raw = log.get(id) as YAny?, var record = decode(id: id, raw) else { throw .unknownConflict(id) }
        let chosenText: String
        switch choice {
        case .winner: chosenText = record.winner
        case .loser: chosenText = record.loser
        case .value(let text): chosenText = text
        }
        let value: YAny
        do { value = try JSONText.parse(chosenText) } catch { throw .invalidText("the chosen value is not JSON: \(error.description)") }
        let segments = record.path.split(separator: "/").map(String.init)
        guard let rootName = segments.first else { throw .unknownConflict(id) }
        var target = doc.getMap(rootName)
        for k in segments.dropFirst() {
            guard case .map(let m)? = target.get(k) as YValue? else { throw .unknownConflict(id) }
            target = m
        }
        record.status = "resolved"
        record.resolvedBy = user
        record.resolvedAt = Timestamp.string(now)
        record.chosen = chosenText
        let key = record.key
        try edit(doc) {
            if case .undefined = value { try target.delete(key) } else { try target.set(key, value) }
            try log.set(id, encode(record))
        }
    }

    static func encode(_ r: ConflictRecord) -> YAny {
        var pairs: [(String, YAny)] = [
            ("path", .string(r.path)), ("key", .string(r.key)), ("winner", .string(r.winner)), ("loser", .string(r.loser)),
            ("winnerClient", .integer(Int64(r.winnerClient))), ("loserClient", .integer(Int64(r.loserClient))),
            ("detectedAt", .string(r.detectedAt)), ("status", .string(r.status)),
        ]
        if let v = r.winnerUser { pairs.append(("winnerUser", .string(v))) }
        if let v = r.loserUser { pairs.append(("loserUser", .string(v))) }
        if let v = r.resolvedBy { pairs.append(("resolvedBy", .string(v))) }
        if let v = r.resolvedAt { pairs.append(("resolvedAt", .string(v))) }
        if let v = r.chosen { pairs.append(("chosen", .string(v))) }
        return .object(pairs)
    }

    static func decode(id: String, _ v: YAny) -> ConflictRecord? {
        guard let path = v.string("path"), let key = v.string("key"), let winner = v.string("winner"),
              let loser = v.string("loser"), let status = v.string("status") else { return nil }
        return ConflictRecord(
            id: id, path: path, key: key, winner: winner, loser: loser, winnerUser: v.string("winnerUser"),
            loserUser: v.string("loserUser"), winnerClient: v.int("winnerClient") ?? 0, loserClient: v.int("loserClient") ?? 0,
            detectedAt: v.string("detectedAt") ?? "", status: status, resolvedBy: v.string("resolvedBy"),
            resolvedAt: v.string("resolvedAt"), chosen: v.string("chosen")
        )
    }

    /// FNV-1a 64 of the text, as 16 hex digits: deterministic across replicas and runs.
    static func stableID(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
