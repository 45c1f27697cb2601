/// Operations on encoded v1 updates that need no document (spec 5.3, 5.4).
public enum Updates {
    /// Merges updates into one that has the effect of applying all of them
    /// (spec 5.4): per client, structs in clock order, overlaps cut, holes
    /// filled with Skip structs; delete sets united.
    public static func merge(_ updates: [[UInt8]]) throws(CRDTError) -> [UInt8] {
        if updates.count == 1 {
            _ = try DecodedUpdate.decode(updates[0])
            return updates[0]
        }
        var decoded: [DecodedUpdate] = []
        decoded.reserveCapacity(updates.count)
        for u in updates { decoded.append(try DecodedUpdate.decode(u)) }
        return merge(decoded: decoded).encode()
    }

    static func merge(decoded: [DecodedUpdate]) -> DecodedUpdate {
        var perClient: [Int: [WireStruct]] = [:]
        for update in decoded {
            for (client, structs) in update.clients {
                perClient[client, default: []].append(contentsOf: structs.lazy.filter { $0.kind != .skip })
            }
        }
        var clients: [(client: Int, structs: [WireStruct])] = []
        for (client, var structs) in perClient where !structs.isEmpty {
            // Stable sort keeps the earlier update first for equal clocks.
            structs = structs.enumerated().sorted {
                $0.element.id.clock != $1.element.id.clock ? $0.element.id.clock < $1.element.id.clock : $0.offset < $1.offset
            }.map(\.element)
            var out: [WireStruct] = []
            out.reserveCapacity(structs.count)
            var end = structs[0].id.clock
            for var s in structs {
                if s.endClock <= end && !out.isEmpty { continue }
                if s.id.clock < end { s = s.sliced(from: end - s.id.clock) }
                if s.id.clock > end {
                    out.append(WireStruct(kind: .skip, id: ID(client: client, clock: end), length: s.id.clock - end, content: .gc))
                }
                if let last = out.last, last.kind == s.kind, s.kind != .item {
                    out[out.count - 1].length += s.length
                } else {
                    out.append(s)
                }
                end = s.endClock
            }
            clients.append((client, out))
        }
        return DecodedUpdate(clients: clients, deleteSet: DeleteSet.merged(decoded.map(\.deleteSet)))
    }

    /// The part of `update` that a peer with state vector `stateVector` lacks
    /// (spec 5.3); the delete set is always kept whole.
    public static func diff(_ update: [UInt8], stateVector: [UInt8]) throws(CRDTError) -> [UInt8] {
        let sv = try decodeStateVector(stateVector)
        return diff(try DecodedUpdate.decode(update), stateVector: sv).encode()
    }

    static func diff(_ update: DecodedUpdate, stateVector sv: [Int: Int]) -> DecodedUpdate {
        var clients: [(client: Int, structs: [WireStruct])] = []
        for (client, structs) in update.clients {
            let known = sv[client] ?? 0
            var out: [WireStruct] = []
            for s in structs {
                if out.isEmpty {
                    if s.kind == .skip || s.endClock <= known { continue }
                    out.append(s.sliced(from: max(known - s.id.clock, 0)))
                } else {
                    out.append(s)
                }
            }
            if !out.isEmpty { clients.append((client, out)) }
        }
        return DecodedUpdate(clients: clients, deleteSet: update.deleteSet)
    }

    /// The state vector an update would produce on an empty document: per
    /// client, the end of the contiguous range that starts at clock 0.
    public static func stateVector(of update: [UInt8]) throws(CRDTError) -> [UInt8] {
        let decoded = try DecodedUpdate.decode(update)
        var sv: [Int: Int] = [:]
        for (client, structs) in decoded.clients {
            guard let first = structs.first, first.id.clock == 0 else { continue }
            var end = 0
            for s in structs {
                if s.kind == .skip || s.id.clock != end { break }
                end = s.endClock
            }
            sv[client] = end
        }
        return encodeStateVector(sv)
    }
}
