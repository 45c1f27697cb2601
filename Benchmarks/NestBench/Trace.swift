import Foundation
import CRDT

/// An editing trace (`shared/traces/README.md`): patches `[pos, delCount,
/// insText]` with positions in Unicode code points.
struct EditingTrace {
    struct Patch {
        var position: Int
        var deleteCount: Int
        var insert: String
    }

    var startContent: String
    var endContent: String
    var txns: [[Patch]]
    /// Whether every character is in the BMP, so code points equal UTF-16 units.
    var isBMPOnly: Bool

    var patchCount: Int { txns.reduce(0) { $0 + $1.count } }

    static func load(path: String) throws -> EditingTrace {
        let json = try JSONText.parse(bytes: try bytes(path: path))
        guard case .string(let start)? = json["startContent"], case .string(let end)? = json["endContent"],
              case .array(let txnValues)? = json["txns"]
        else { throw CRDTError(.invalidValue, "not an editing trace: needs startContent, endContent, txns") }
        var txns: [[Patch]] = []
        txns.reserveCapacity(txnValues.count)
        var bmp = !start.unicodeScalars.contains { $0.value > 0xFFFF }
        for t in txnValues {
            guard case .array(let patchValues)? = t["patches"] else { throw CRDTError(.invalidValue, "txn without patches") }
            var patches: [Patch] = []
            for pv in patchValues {
                guard case .array(let a) = pv, a.count >= 2, let pos = a[0].doubleValue, let del = a[1].doubleValue else {
                    throw CRDTError(.invalidValue, "bad patch \(pv)")
                }
                let ins = a.count > 2 ? (a[2].stringValue ?? "") : ""
                if bmp && ins.unicodeScalars.contains(where: { $0.value > 0xFFFF }) { bmp = false }
                patches.append(Patch(position: Int(pos), deleteCount: Int(del), insert: ins))
            }
            txns.append(patches)
        }
        return EditingTrace(startContent: start, endContent: end, txns: txns, isBMPOnly: bmp)
    }

    /// The file's bytes, gunzipped when its name ends in `.gz`.
    static func bytes(path: String) throws -> [UInt8] {
        let data: Data
        if path.hasSuffix(".gz") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec gzip -dc \"$0\"", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw CRDTError(.invalidValue, "gzip could not read \(path)") }
        } else {
            guard let d = FileManager.default.contents(atPath: path) else { throw CRDTError(.invalidValue, "cannot read \(path)") }
            data = d
        }
        return [UInt8](data)
    }
}

/// Converts code-point positions to UTF-16 offsets for traces with astral
/// characters by keeping a mirror of the text; BMP-only traces skip it.
struct PositionMapper {
    private var scalars: [Unicode.Scalar]?

    init(trace: EditingTrace) {
        scalars = trace.isBMPOnly ? nil : Array(trace.startContent.unicodeScalars)
    }

    /// The UTF-16 range of `count` code points from code point `position`.
    func utf16Range(_ position: Int, _ count: Int) -> (offset: Int, length: Int) {
        guard let scalars else { return (position, count) }
        var offset = 0
        for s in scalars[..<position] { offset += s.value > 0xFFFF ? 2 : 1 }
        var length = 0
        for s in scalars[position..<(position + count)] { length += s.value > 0xFFFF ? 2 : 1 }
        return (offset, length)
    }

    mutating func apply(_ patch: EditingTrace.Patch) {
        guard scalars != nil else { return }
        scalars!.replaceSubrange(patch.position..<(patch.position + patch.deleteCount), with: Array(patch.insert.unicodeScalars))
    }
}
