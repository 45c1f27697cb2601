import Foundation
import CRDT
import TestBasics

/// Paths and helpers shared by the tests.
enum TestSupport {
    /// The package root (two levels above this file's folder).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the clone, or `NEST_SHARED_DIR`.
    static var sharedDir: URL {
        if let env = ProcessInfo.processInfo.environment["NEST_SHARED_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    static var specDir: URL { sharedDir.appendingPathComponent("spec") }
    static var vectorsDir: URL { specDir.appendingPathComponent("vectors") }

    static func readJSON(_ url: URL) throws -> YAny {
        let data = try Data(contentsOf: url)
        return try JSONText.parse(bytes: [UInt8](data))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16) ?? 0)
        }
        return out
    }

    typealias SeededRandom = TestBasics.SeededRandom

    /// `node`, found on PATH.
    static var node: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/node"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func tempDir(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nest-tests-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// JSON equality as the vectors mean it: numbers by value (bigints too),
    /// tagged bytes/docs/undefined, key order free.
    static func jsonEqual(_ actual: YAny, _ expected: YAny) -> Bool {
        switch (actual, expected) {
        case (.bytes(let b), .object):
            return expected["$bytes"] == .string(hex(b))
        case (.bigint(let v), _):
            if let e = expected.doubleValue { return Double(v) == e }
            if case .string(let s)? = expected["$bigint"] { return s == String(v) }
            return false
        case (.undefined, _):
            return expected == .null || expected["$undefined"] == .bool(true)
        case (.array(let a), .array(let e)):
            return a.count == e.count && zip(a, e).allSatisfy { jsonEqual($0, $1) }
        case (.object(let a), .object(let e)):
            guard a.count == e.count else { return false }
            for (k, v) in a {
                guard let ev = expected[k], jsonEqual(v, ev) else { return false }
            }
            return true
        default:
            return actual == expected
        }
    }
}
