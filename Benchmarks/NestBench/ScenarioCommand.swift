import Foundation
import CRDT
import ScenarioKit

/// `nest-bench scenario FILE|DIR... [--out DIR]`: runs scenarios and writes
/// outputs exactly like `yjs-runner.mjs` (exit 0 ok, 1 expectation failed,
/// 2 invalid scenario or usage).
enum ScenarioCommand {
    static func run(_ argv: [String]) -> Int32 {
        var outDir: String?
        var args: [String] = []
        var i = 0
        while i < argv.count {
            if argv[i] == "--out" {
                guard i + 1 < argv.count else { return usage("--out needs a folder") }
                outDir = argv[i + 1]
                i += 2
                continue
            }
            if argv[i].hasPrefix("-") { return usage("unknown option \(argv[i])") }
            args.append(argv[i])
            i += 1
        }
        guard !args.isEmpty else { return usage(nil) }
        let files: [String]
        do { files = try ScenarioFiles.listInputs(args) } catch { return usage("\(error)") }
        if let outDir {
            try? FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        }
        let single = files.count == 1 && outDir == nil
        var results: [YAny] = []
        var converged = 0, diverged = 0, invalid = 0, expectFailed = 0
        var status: Int32 = 0
        let t0 = Date()
        for file in files {
            let r = ScenarioFiles.run(file: file)
            guard let output = r.output else {
                FileHandle.standardError.write(Data("\(file): invalid scenario: \(r.error?.message ?? "?")\n".utf8))
                invalid += 1
                status = 2
                continue
            }
            if output["converged"] == .bool(true) { converged += 1 } else { diverged += 1 }
            if !r.expectationFailures.isEmpty {
                for f in r.expectationFailures { FileHandle.standardError.write(Data("\(file): expect failed: \(f)\n".utf8)) }
                expectFailed += 1
                status = max(status, 1)
            }
            if let outDir {
                let path = (outDir as NSString).appendingPathComponent(ScenarioFiles.outputName(for: file))
                _ = FileManager.default.createFile(atPath: path, contents: Data((JSONText.stringify(output) + "\n").utf8))
            } else {
                results.append(output)
            }
        }
        if outDir == nil && !results.isEmpty {
            let text = JSONText.stringify(single ? results[0] : .array(results))
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
        if !single {
            let secs = Date().timeIntervalSince(t0)
            FileHandle.standardError.write(Data(
                "\(files.count) scenarios in \(String(format: "%.2f", secs)) s: \(converged) converged, \(diverged) not converged, \(invalid) invalid, \(expectFailed) failed expectations\n".utf8))
        }
        return status
    }

    static func usage(_ message: String?) -> Int32 {
        if let message { FileHandle.standardError.write(Data("\(message)\n".utf8)) }
        FileHandle.standardError.write(Data("usage: nest-bench scenario SCENARIO.json|DIR... [--out DIR]\n".utf8))
        return 2
    }
}
