/// A document kept as the updates that make it, without integrating them:
/// what a relay that validates, stores and forwards updates needs.
///
/// A loaded ``Doc`` costs several times its encoded size (an object per
/// struct, an index over each sequence); this keeps the bytes themselves plus
/// the clock ranges they hold, so it can tell whether an update adds anything,
/// give its state vector, and answer a peer's state vector, at about the
/// memory of the bytes. Validation is the same as ``Doc/applyUpdate(_:origin:)``'s
/// (the whole update is decoded before anything changes); integration, garbage
/// collection and merging of neighbouring items are left to whoever turns the
/// updates into a snapshot with a `Doc`.
public struct EncodedDocument: Sendable {
    /// The updates, in the order they were added; applied to an empty
    /// document in any order they give its state.
    public private(set) var updates: [[UInt8]] = []
    /// Total bytes of ``updates``.
    public private(set) var byteCount = 0
    /// Clock ranges of the structs held (Skip structs are holes, not held).
    private var held = ClockRanges()
    /// Clock ranges deleted by any update held.
    private var deleted = ClockRanges()

    public init() {}

    /// What an update adds to a document: the struct and delete ranges it
    /// holds that the document does not. Made by ``addition(of:)``.
    public struct Addition: Sendable {
        fileprivate var structs: [(client: Int, range: DeleteSet.Range)] = []
        fileprivate var deletes: [(client: Int, range: DeleteSet.Range)] = []

        /// Whether the update holds anything the document lacks.
        public var isEmpty: Bool { structs.isEmpty && deletes.isEmpty }
    }

    /// Validates `update` in full (a typed error with the offset when it does
    /// not decode) and returns what it would add; nothing changes here.
    public func addition(of update: [UInt8]) throws(CRDTError) -> Addition {
        let decoded = try DecodedUpdate.decode(update)
        var addition = Addition()
        for (client, structs) in decoded.clients {
            for s in structs where s.kind != .skip {
                let range = DeleteSet.Range(clock: s.id.clock, length: s.length)
                if !held.covers(client: client, range) { addition.structs.append((client, range)) }
            }
        }
        for client in decoded.deleteSet.clientOrder {
            for range in decoded.deleteSet.clients[client] ?? [] where !deleted.covers(client: client, range) {
                addition.deletes.append((client, range))
            }
        }
        return addition
    }

    /// Adds an update checked by ``addition(of:)`` against this document
    /// (or an earlier state of it: ranges already held are merged, not doubled).
    public mutating func append(_ update: [UInt8], _ addition: Addition) {
        updates.append(Self.trimmed(update))
        byteCount += update.count
        for (client, range) in addition.structs { held.insert(client: client, range) }
        for (client, range) in addition.deletes { deleted.insert(client: client, range) }
    }

    /// Validates and adds an update whatever it holds (loading stored state).
    public mutating func load(_ update: [UInt8]) throws(CRDTError) {
        append(update, try addition(of: update))
    }

    /// Replaces the first `count` updates with `snapshot`, an update with
    /// the same effect (a compaction of them); later updates stay.
    public mutating func replaceFirst(_ count: Int, with snapshot: [UInt8]) {
        let n = min(max(count, 0), updates.count)
        byteCount -= updates[..<n].reduce(0) { $0 + $1.count }
        updates.replaceSubrange(0..<n, with: [Self.trimmed(snapshot)])
        byteCount += snapshot.count
    }

    /// `bytes` in storage of its own size: encoders hand out their buffer
    /// with up to as much room again unused, which a held update would keep.
    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.capacity - bytes.count > 64 else { return bytes }
        return [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
            initialized = buffer.initialize(fromContentsOf: bytes)
        }
    }

    /// Per client, the end of the held clock range that starts at 0 (spec 5.1).
    public var stateVector: [Int: Int] { held.contiguousEnds }

    /// Bytes this value keeps: the updates and the range tables.
    public var estimatedBytes: Int { byteCount + (held.rangeCount + deleted.rangeCount) * 16 }

    /// One update with the effect of all of them (spec 5.4).
    public func merged() throws(CRDTError) -> [UInt8] {
        switch updates.count {
        case 0: return DecodedUpdate(clients: [], deleteSet: DeleteSet()).encode()
        case 1: return updates[0]
        default: return try Updates.merge(updates)
        }
    }

    /// What a peer with state vector `stateVector` lacks (spec 5.3): the
    /// structs past its clocks and every deletion.
    public func diff(since stateVector: [Int: Int]) throws(CRDTError) -> [UInt8] {
        // A peer that has every struct held lacks at most deletions: no need to decode anything.
        if held.isCovered(by: stateVector) {
            return DecodedUpdate(clients: [], deleteSet: deleted.deleteSet).encode()
        }
        var decoded: [DecodedUpdate] = []
        decoded.reserveCapacity(updates.count)
        for u in updates { decoded.append(try DecodedUpdate.decode(u)) }
        let all = decoded.count == 1 ? decoded[0] : Updates.merge(decoded: decoded)
        return Updates.diff(all, stateVector: stateVector).encode()
    }
}

/// Sorted, merged clock ranges per client.
struct ClockRanges: Sendable {
    private var clients: [Int: [DeleteSet.Range]] = [:]
    private(set) var rangeCount = 0

    /// Whether one held range contains all of `range`.
    func covers(client: Int, _ range: DeleteSet.Range) -> Bool {
        guard let ranges = clients[client] else { return false }
        let i = Self.firstEnding(after: range.clock, in: ranges)
        return i < ranges.count && ranges[i].clock <= range.clock && ranges[i].clock + ranges[i].length >= range.clock + range.length
    }

    mutating func insert(client: Int, _ range: DeleteSet.Range) {
        guard range.length > 0 else { return }
        var ranges = clients.removeValue(forKey: client) ?? []
        rangeCount -= ranges.count
        // Ranges ending at or after the new start may touch it; merge every one that does.
        let first = Self.firstEnding(after: range.clock - 1, in: ranges)
        var start = range.clock, end = range.clock + range.length
        var last = first
        while last < ranges.count, ranges[last].clock <= end {
            start = min(start, ranges[last].clock)
            end = max(end, ranges[last].clock + ranges[last].length)
            last += 1
        }
        ranges.replaceSubrange(first..<last, with: [DeleteSet.Range(clock: start, length: end - start)])
        rangeCount += ranges.count
        clients[client] = ranges
    }

    /// The index of the first range whose end is past `clock`.
    private static func firstEnding(after clock: Int, in ranges: [DeleteSet.Range]) -> Int {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].clock + ranges[mid].length > clock { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// Whether a state vector reaches past every range held.
    func isCovered(by stateVector: [Int: Int]) -> Bool {
        clients.allSatisfy { client, ranges in
            guard let last = ranges.last else { return true }
            return last.clock + last.length <= stateVector[client] ?? 0
        }
    }

    /// The ranges as a delete set.
    var deleteSet: DeleteSet {
        var ds = DeleteSet()
        for client in clients.keys.sorted() {
            for r in clients[client] ?? [] { ds.add(client: client, clock: r.clock, length: r.length) }
        }
        return ds
    }

    var contiguousEnds: [Int: Int] {
        var sv: [Int: Int] = [:]
        for (client, ranges) in clients {
            if let first = ranges.first, first.clock == 0 { sv[client] = first.length }
        }
        return sv
    }
}
