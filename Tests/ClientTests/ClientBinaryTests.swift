import Foundation
import TestHarness
import TestBasics
import Testing

/// `nest` stands in for the phone app: it must carry no server code, and its
/// demo must drive a real `nest-server` process rather than an embedded one.
@Suite("the nest executable")
struct ClientBinaryTests {
    @Test("nest links no server module: no symbol of SyncServer, Hummingbird's server, PostgresNIO or Prometheus")
    func noServerCode() async throws {
        let nm = try await ProcessRunner.run("/usr/bin/nm", ["--defined-only", NestCLI.binary])
        #expect(nm.status == 0, "\(nm.err)")
        let symbols = nm.out.split(separator: "\n")
        #expect(symbols.count > 1_000, "nm read the binary: \(symbols.count) symbols")
        // Swift mangles a module name as its length and text: `$s10SyncServer...`.
        for module in ["SyncServer", "Hummingbird", "PostgresNIO", "Prometheus", "JWTKit"] {
            let mangled = "$s\(module.utf8.count)\(module)"
            let found = symbols.first { $0.contains(mangled) }
            #expect(found == nil, "nest contains \(module) code: \(found ?? "")")
        }
        // The check can fail: the server executable does contain them.
        let server = try await ProcessRunner.run("/usr/bin/nm", ["--defined-only", ServerProcess.binary])
        #expect(server.out.contains("$s10SyncServer"), "the same check finds SyncServer in nest-server")
    }

    @Test("nest demo starts the nest-server built beside it, merges two devices' offline edits through it, and stops it")
    func demo() async throws {
        let dir = tempDirectory("demo")
        let run = try await ProcessRunner.run(NestCLI.binary, ["demo", "--data-dir", dir], environment: ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()])
        #expect(run.status == 0, "\(run.out.suffix(2_000)) \(run.err.suffix(2_000))")
        let beside = URL(fileURLWithPath: ServerProcess.binary).resolvingSymlinksInPath().path
        #expect(run.out.contains("▶ nest-server (\(beside))"), "\(run.out.prefix(500))")
        #expect(run.out.components(separatedBy: "identical on both devices").count == 4, "\(run.out.suffix(1_500))")
        #expect(run.out.contains("nothing pending: alice 0, bob 0"))
        // The server kept its data in the demo's folder and was stopped: no process serves that folder any more.
        #expect(FileManager.default.fileExists(atPath: dir + "/server/nest.sqlite"))
        let left = try await ProcessRunner.run("/usr/bin/pgrep", ["-f", "nest-server serve"], environment: nil)
        for pid in left.out.split(separator: "\n") {
            let env = (try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)) ?? ""
            #expect(!env.contains("NEST_DATA_DIR=\(dir)/server"), "the demo's server (pid \(pid)) is still running")
        }
    }
}
