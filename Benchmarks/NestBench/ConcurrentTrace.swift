import CRDT
import Foundation

/// A concurrent editing trace (`shared/traces/README.md`): each txn has an
/// agent, the txns it follows (`parents`), and patches whose positions count
/// code points in the state those parents make together.
struct ConcurrentTrace {
    struct Txn {
        var agent: Int
        var parents: [Int]
        var patches: [EditingTrace.Patch]
    }

    var endContent: String
    var agents: Int
    var txns: [Txn]

    static func load(path: String) throws -> ConcurrentTrace {
        let json = try JSONText.parse(bytes: try EditingTrace.bytes(path: path))
        guard case .string(let end)? = json["endContent"], case .array(let txnValues)? = json["txns"] else {
            throw CRDTError(.invalidValue, "not a concurrent editing trace: needs endContent and txns")
        }
        var txns: [Txn] = []
        txns.reserveCapacity(txnValues.count)
        var agents = 0
        for (index, t) in txnValues.enumerated() {
            guard let agent = t["agent"]?.doubleValue, case .array(let parentValues)? = t["parents"], case .array(let patchValues)? = t["patches"] else {
                throw CRDTError(.invalidValue, "txn \(index) needs agent, parents and patches")
            }
            let parents = parentValues.compactMap { $0.doubleValue.map(Int.init) }
            guard parents.count == parentValues.count, parents.allSatisfy({ $0 >= 0 && $0 < index }) else {
                throw CRDTError(.invalidValue, "txn \(index): parents must be earlier txns")
            }
            var patches: [EditingTrace.Patch] = []
            for pv in patchValues {
                guard case .array(let a) = pv, a.count >= 2, let pos = a[0].doubleValue, let del = a[1].doubleValue else {
                    throw CRDTError(.invalidValue, "bad patch \(pv)")
                }
                let ins = a.count > 2 ? (a[2].stringValue ?? "") : ""
                if ins.unicodeScalars.contains(where: { $0.value > 0xFFFF }) {
                    throw CRDTError(.invalidValue, "txn \(index) inserts a character outside the BMP: concurrent traces are replayed with code points as UTF-16 units")
                }
                patches.append(EditingTrace.Patch(position: Int(pos), deleteCount: Int(del), insert: ins))
            }
            agents = max(agents, Int(agent) + 1)
            txns.append(Txn(agent: Int(agent), parents: parents, patches: patches))
        }
        return ConcurrentTrace(endContent: end, agents: agents, txns: txns)
    }

    /// Replays every agent on a replica of its own: before each txn, its
    /// agent's replica receives the other agents' updates its parents have
    /// seen (and no more); its patches are one transaction there. At the end
    /// every replica receives everything. Returns the replicas.
    func replay() throws -> [Doc] {
        let replicas = (0..<agents).map { Doc(clientID: 1_000 + $0) }
        var captured: [UInt8]? = nil
        for r in replicas { _ = r.onUpdate { u, tr in if tr.local { captured = u } } }
        // Each agent's updates in order, the version (updates of each agent seen) after each txn, and what each replica holds.
        var updates = [[[UInt8]]](repeating: [], count: agents)
        var versions: [[Int]] = []
        versions.reserveCapacity(txns.count)
        var held = [[Int]](repeating: [Int](repeating: 0, count: agents), count: agents)
        for (index, txn) in txns.enumerated() {
            var version = [Int](repeating: 0, count: agents)
            for p in txn.parents { for a in 0..<agents { version[a] = max(version[a], versions[p][a]) } }
            let a = txn.agent, doc = replicas[a]
            for b in 0..<agents {
                guard held[a][b] <= version[b] else {
                    throw CRDTError(.invalidValue, "txn \(index): agent \(a)'s replica has seen more of agent \(b) than the txn's parents")
                }
                while held[a][b] < version[b] {
                    try doc.applyUpdate(updates[b][held[a][b]])
                    held[a][b] += 1
                }
            }
            guard held[a][a] == updates[a].count else { throw CRDTError(.invalidValue, "txn \(index): agent \(a) does not follow its own last txn") }
            let text = doc.getText("text")
            captured = nil
            try doc.transact { _ in
                for p in txn.patches {
                    if p.deleteCount > 0 { try text.delete(p.position, count: p.deleteCount) }
                    if !p.insert.isEmpty { try text.insert(p.position, p.insert) }
                }
            }
            updates[a].append(captured ?? [])
            held[a][a] += 1
            version[a] = held[a][a]
            versions.append(version)
        }
        for a in 0..<agents {
            for b in 0..<agents where b != a {
                while held[a][b] < updates[b].count {
                    try replicas[a].applyUpdate(updates[b][held[a][b]])
                    held[a][b] += 1
                }
            }
        }
        return replicas
    }
}

/// `nest-bench concurrent PATH.json.gz [--json] [--runs N]`: replays a
/// concurrent trace (every agent on its own replica, forked and merged as the
/// trace says) and checks that every replica ends with the trace's text.
enum ConcurrentTraceCommand {
    static func run(_ argv: [String]) -> Int32 {
        var path: String?
        var json = false
        var runs = 5
        var i = 0
        while i < argv.count {
            switch argv[i] {
            case "--json": json = true
            case "--runs":
                guard i + 1 < argv.count, let n = Int(argv[i + 1]), n > 0 else { return usage("--runs needs a positive number") }
                runs = n
                i += 1
            default:
                if argv[i].hasPrefix("-") || path != nil { return usage("unexpected argument \(argv[i])") }
                path = argv[i]
            }
            i += 1
        }
        guard let path else { return usage("missing trace path") }
        let trace: ConcurrentTrace
        do { trace = try ConcurrentTrace.load(path: path) } catch {
            FileHandle.standardError.write(Data("nest-bench: \(error)\n".utf8))
            return 2
        }
        var times: [Double] = []
        var ok = true
        let clock = ContinuousClock()
        for run in 1...runs {
            do {
                var replicas: [Doc] = []
                times.append(Stats.ms(try clock.measure { replicas = try trace.replay() }))
                ok = ok && replicas.allSatisfy { $0.getText("text").toString() == trace.endContent }
            } catch {
                FileHandle.standardError.write(Data("nest-bench: run \(run) failed: \(error)\n".utf8))
                return 1
            }
            if !json { print(String(format: "run %d: replayed and merged in %.1f ms", run, times.last ?? 0)) }
        }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension.replacingOccurrences(of: ".json", with: "")
        if json {
            print(JSONText.stringify(.object([
                ("trace", .string("concurrent/" + name)), ("txns", .number(Double(trace.txns.count))), ("agents", .number(Double(trace.agents))),
                ("runs", .number(Double(runs))), ("concurrent_ms", .number(TraceCommand.median(times))), ("ok", .bool(ok)),
            ])))
        } else {
            print(String(format: "median: %.1f ms for %d txns by %d agents; every replica %@ endContent", TraceCommand.median(times),
                         trace.txns.count, trace.agents, ok ? "matches" : "DIFFERS from"))
        }
        return ok ? 0 : 1
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("nest-bench: \(message)\nusage: nest-bench concurrent PATH.json.gz [--json] [--runs N]\n".utf8))
        return 2
    }
}
