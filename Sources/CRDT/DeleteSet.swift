/// A set of deleted clock ranges per client (spec 3.8).
public struct DeleteSet: Sendable, Equatable {
    /// One deleted range `[clock, clock + length)`.
    public struct Range: Sendable, Equatable {
        public var clock: Int
        public var length: Int
        public init(clock: Int, length: Int) {
            self.clock = clock
            self.length = length
        }
    }

    /// Ranges per client; sorted and merged after ``sortAndMerge()``.
    public internal(set) var clients: [Int: [Range]] = [:]
    /// Clients in the order they were first added. Yjs iterates delete sets
    /// in this order, and its text cleanup depends on it.
    public internal(set) var clientOrder: [Int] = []

    public init() {}

    /// Empties the set, keeping its storage for reuse.
    mutating func removeAll() {
        if clients.isEmpty { return }
        clients.removeAll(keepingCapacity: true)
        clientOrder.removeAllKeepingStorage()
    }

    // A closure, not a key path: key-path projection goes through the
    // generic runtime, and this is asked once or twice per transaction.
    public var isEmpty: Bool { clients.isEmpty || clients.values.allSatisfy { $0.isEmpty } }

    public mutating func add(client: Int, clock: Int, length: Int) {
        guard length > 0 else { return }
        if clients[client] == nil { clientOrder.append(client) }
        clients[client, default: []].append(Range(clock: clock, length: length))
    }

    /// Sorts each client's ranges and merges overlapping or adjacent ones.
    public mutating func sortAndMerge() {
        if clients.isEmpty { return }
        for (client, var ranges) in clients {
            guard ranges.count > 1 else { continue }
            ranges.sort { $0.clock < $1.clock }
            var merged: [Range] = [ranges[0]]
            merged.reserveCapacity(ranges.count)
            for r in ranges.dropFirst() {
                let lastIndex = merged.count - 1
                let last = merged[lastIndex]
                if last.clock + last.length >= r.clock {
                    merged[lastIndex].length = max(last.length, r.clock + r.length - last.clock)
                } else {
                    merged.append(r)
                }
            }
            clients[client] = merged
        }
    }

    /// Whether `id` lies in a deleted range (requires sorted ranges).
    public func contains(_ id: ID) -> Bool {
        guard let ranges = clients[id.client] else { return false }
        var lo = 0
        var hi = ranges.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let r = ranges[mid]
            if id.clock < r.clock { hi = mid - 1 }
            else if id.clock >= r.clock + r.length { lo = mid + 1 }
            else { return true }
        }
        return false
    }

    /// Union of delete sets, sorted and merged.
    public static func merged(_ sets: [DeleteSet]) -> DeleteSet {
        var out = DeleteSet()
        for set in sets {
            for client in set.clientOrder {
                guard let ranges = set.clients[client], !ranges.isEmpty else { continue }
                if out.clients[client] == nil { out.clientOrder.append(client) }
                out.clients[client, default: []].append(contentsOf: ranges)
            }
        }
        out.sortAndMerge()
        return out
    }

    /// Writes the delete set, clients in descending order (Yjs 13.6).
    func write(_ enc: inout Lib0Encoder) {
        let nonEmpty = clients.filter { !$0.value.isEmpty }
        enc.writeVarUInt(nonEmpty.count)
        for client in nonEmpty.keys.sorted(by: >) {
            let ranges = nonEmpty[client] ?? []
            enc.writeVarUInt(client)
            enc.writeVarUInt(ranges.count)
            for r in ranges {
                enc.writeVarUInt(r.clock)
                enc.writeVarUInt(r.length)
            }
        }
    }

    /// Reads a delete set; overlapping or unsorted input is accepted.
    static func read(_ dec: inout Lib0Decoder) throws(CRDTError) -> DeleteSet {
        var ds = DeleteSet()
        let n = try dec.readCount(minimumBytesEach: 2)
        for _ in 0..<n {
            let client = try dec.readVarUInt()
            let count = try dec.readCount(minimumBytesEach: 2)
            var ranges = ds.clients[client] ?? []
            if ds.clients[client] == nil { ds.clientOrder.append(client) }
            ranges.reserveCapacity(ranges.count + count)
            for _ in 0..<count {
                let start = dec.position
                let clock = try dec.readVarUInt()
                let length = try dec.readVarUInt()
                guard clock <= Int.max - length else {
                    throw CRDTError(.integerOverflow, offset: start, "delete range overflows")
                }
                if length > 0 { ranges.append(Range(clock: clock, length: length)) }
            }
            ds.clients[client] = ranges
        }
        return ds
    }
}
