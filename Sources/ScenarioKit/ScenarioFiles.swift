import Foundation
public import CRDT

/// File handling shared by `nest-bench scenario` and the tests: the same
/// inputs and outputs as `yjs-runner.mjs`.
public enum ScenarioFiles {
    /// Expands folders to their `*.json` scenarios (not `*.out.json`), sorted.
    public static func listInputs(_ args: [String]) throws -> [String] {
        var files: [String] = []
        let fm = FileManager.default
        for a in args {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: a, isDirectory: &isDir) else {
                throw ScenarioError.invalid("no such file or directory: \(a)")
            }
            if isDir.boolValue {
                let names = try fm.contentsOfDirectory(atPath: a).filter { $0.hasSuffix(".json") && !$0.hasSuffix(".out.json") }.sorted()
                files.append(contentsOf: names.map { (a as NSString).appendingPathComponent($0) })
            } else {
                files.append(a)
            }
        }
        return files
    }

    /// The result of running one file.
    public struct FileResult {
        public var file: String
        public var output: YAny?
        public var error: ScenarioError?
        public var expectationFailures: [String]
    }

    /// Reads, runs and checks one scenario file.
    public static func run(file: String) -> FileResult {
        guard let data = FileManager.default.contents(atPath: file) else {
            return FileResult(file: file, output: nil, error: .invalid("cannot read \(file)"), expectationFailures: [])
        }
        let scenario: YAny
        do { scenario = try JSONText.parse(bytes: [UInt8](data)) } catch {
            return FileResult(file: file, output: nil, error: .invalid("JSON: \(error)"), expectationFailures: [])
        }
        do {
            let output = try ScenarioRunner.run(scenario)
            var failures: [String] = []
            if let expect = scenario["expect"] { failures = try ScenarioRunner.expectationFailures(expect, output) }
            return FileResult(file: file, output: output, error: nil, expectationFailures: failures)
        } catch {
            return FileResult(file: file, output: nil, error: error, expectationFailures: [])
        }
    }

    /// Output file name for a scenario file: `<basename>.out.json`.
    public static func outputName(for file: String) -> String {
        let base = (file as NSString).lastPathComponent
        return (base.hasSuffix(".json") ? String(base.dropLast(5)) : base) + ".out.json"
    }
}
