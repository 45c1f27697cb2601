import Foundation
import CRDT

/// `nest-bench trace PATH.json.gz [--json] [--runs N] [--client-id ID]`:
/// replays an editing trace as local edits (one transaction per trace txn),
/// applies the same edits as remote updates, encodes the final state (v1)
/// and loads it into a fresh document. Times are medians over the runs.
enum TraceCommand {
    struct Result {
        var replay: [Double] = []
        var remoteApply: [Double] = []
        var encode: [Double] = []
        var load: [Double] = []
        var encodeV2: [Double] = []
        var v1Bytes = 0
        var v2Bytes = 0
        /// FNV-1a of the v2 encoding, which `scripts/bench-crdt` compares with Yjs'.
        var v2Hash: UInt32 = 0
        var peakRSS = 0
        var retained = 0
        var ok = true
    }

    static func run(_ argv: [String]) -> Int32 {
        var path: String?
        var json = false
        var runs = 5
        var clientID = 2_654_435_769
        var oneTransaction = false
        var i = 0
        while i < argv.count {
            switch argv[i] {
            case "--json": json = true
            case "--one-transaction": oneTransaction = true
            case "--runs":
                guard i + 1 < argv.count, let n = Int(argv[i + 1]), n > 0 else { return usage("--runs needs a positive number") }
                runs = n
                i += 1
            case "--client-id":
                guard i + 1 < argv.count, let n = Int(argv[i + 1]), n >= 0 else { return usage("--client-id needs a number") }
                clientID = n
                i += 1
            default:
                if argv[i].hasPrefix("-") || path != nil { return usage("unexpected argument \(argv[i])") }
                path = argv[i]
            }
            i += 1
        }
        guard let path else { return usage("missing trace path") }
        let trace: EditingTrace
        do { trace = try EditingTrace.load(path: path) } catch {
            FileHandle.standardError.write(Data("nest-bench: \(error)\n".utf8))
            return 2
        }
        if !json { print("trace \(path): \(trace.txns.count) transactions, \(trace.patchCount) patches, \(runs) runs") }
        var result = Result()
        for run in 1...runs {
            do {
                try measure(trace, clientID: clientID, oneTransaction: oneTransaction, into: &result)
            } catch {
                FileHandle.standardError.write(Data("nest-bench: run \(run) failed: \(error)\n".utf8))
                return 1
            }
            if !json {
                print(String(format: "run %d: replay %.1f ms, remote apply %.1f ms, encode %.2f ms, load %.2f ms",
                             run, result.replay.last ?? 0, result.remoteApply.last ?? 0, result.encode.last ?? 0, result.load.last ?? 0))
            }
        }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension.replacingOccurrences(of: ".json", with: "")
        if json {
            let obj: YAny = .object([
                ("trace", .string(name)), ("patches", .number(Double(trace.patchCount))), ("runs", .number(Double(runs))),
                ("replay_ms", .number(median(result.replay))), ("remote_apply_ms", .number(median(result.remoteApply))),
                ("encode_ms", .number(median(result.encode))), ("load_ms", .number(median(result.load))),
                ("v1_bytes", .number(Double(result.v1Bytes))), ("peak_rss_mb", .number(mb(result.peakRSS))),
                ("encode_v2_ms", .number(median(result.encodeV2))), ("v2_bytes", .number(Double(result.v2Bytes))),
                ("v2_fnv", .number(Double(result.v2Hash))),
                ("retained_mb", .number(mb(result.retained))), ("ok", .bool(result.ok)),
            ])
            print(JSONText.stringify(obj))
        } else {
            print(String(format: "median: replay %.1f ms, remote apply %.1f ms, encode %.2f ms, load %.2f ms",
                         median(result.replay), median(result.remoteApply), median(result.encode), median(result.load)))
            print(String(format: "v2: encode %.2f ms, %d bytes", median(result.encodeV2), result.v2Bytes))
            print("v1 bytes \(result.v1Bytes), peak RSS \(String(format: "%.1f", mb(result.peakRSS))) MB, retained \(String(format: "%.1f", mb(result.retained))) MB, final text \(result.ok ? "matches" : "DIFFERS from") endContent")
        }
        return result.ok ? 0 : 1
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func mb(_ bytes: Int) -> Double { (Double(bytes) / 1_048_576 * 10).rounded() / 10 }

    /// Replays the trace: one transaction per trace txn, or the whole trace as
    /// one; `beforeTransaction` is called with each txn's index first.
    static func replay(_ trace: EditingTrace, into doc: Doc, oneTransaction: Bool = false,
                       beforeTransaction: (Int) -> Void = { _ in }) throws {
        let text = doc.getText("text")
        var mapper = PositionMapper(trace: trace)
        func run() throws {
            if !trace.startContent.isEmpty { try text.insert(0, trace.startContent) }
            for (n, txn) in trace.txns.enumerated() {
                beforeTransaction(n)
                try doc.transact { _ in
                    for p in txn {
                        let (offset, length) = mapper.utf16Range(p.position, p.deleteCount)
                        if length > 0 { try text.delete(offset, count: length) }
                        if !p.insert.isEmpty { try text.insert(offset, p.insert) }
                        mapper.apply(p)
                    }
                }
            }
        }
        if oneTransaction { try doc.transact { _ in try run() } } else { try run() }
    }

    static func measure(_ trace: EditingTrace, clientID: Int, oneTransaction: Bool, into result: inout Result) throws {
        let clock = ContinuousClock()
        Memory.resetPeak()


        // 1. Local replay, one transaction per trace txn.
        let local = Doc(clientID: clientID)
        result.replay.append(Stats.ms(try clock.measure { try replay(trace, into: local, oneTransaction: oneTransaction) }))
        result.ok = result.ok && local.getText("text").toString() == trace.endContent

        // The same edits as updates (recorded in an untimed second replay).
        var updates: [[UInt8]] = []
        updates.reserveCapacity(trace.txns.count + 1)
        do {
            let recorder = Doc(clientID: clientID)
            recorder.onUpdate { u, _ in updates.append(u) }
            try replay(trace, into: recorder, oneTransaction: oneTransaction)
        }

        // 2. Remote apply, update by update, into a fresh document.
        let remote = Doc(clientID: 1)
        result.remoteApply.append(Stats.ms(try clock.measure { for u in updates { try remote.applyUpdate(u) } }))
        result.ok = result.ok && remote.getText("text").toString() == trace.endContent
        updates = []

        // 3. Encode the final state.
        var encoded: [UInt8] = []
        result.encode.append(Stats.ms(clock.measure { encoded = local.encodeStateAsUpdate(since: [:]) }))
        result.v1Bytes = encoded.count
        var v2: [UInt8] = []
        result.encodeV2.append(Stats.ms(try clock.measure { v2 = try local.encodeStateAsUpdateV2() }))
        result.v2Bytes = v2.count
        result.v2Hash = v2.reduce(2_166_136_261 as UInt32) { ($0 ^ UInt32($1)) &* 16_777_619 }

        // 4. Load it into a fresh document.
        let heapBeforeLoad = Memory.heapInUse()
        let loaded = Doc(clientID: 1)
        result.load.append(Stats.ms(try clock.measure { try loaded.applyUpdate(encoded) }))
        // Retained: what the loaded document keeps on the heap.
        withExtendedLifetime(loaded) {
            let after = Memory.heapInUse()
            result.retained = max(result.retained, after - heapBeforeLoad)
        }
        result.ok = result.ok && loaded.getText("text").toString() == trace.endContent
        result.peakRSS = max(result.peakRSS, Memory.peakRSS())
        withExtendedLifetime(local) {}
        withExtendedLifetime(remote) {}
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("nest-bench: \(message)\nusage: nest-bench trace PATH.json.gz [--json] [--runs N] [--client-id ID]\n".utf8))
        return 2
    }
}
