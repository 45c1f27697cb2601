import Foundation
import CRDT

/// `nest-server`: the Nest Sync server. The WebSocket sync endpoints, stores
/// and auth arrive with issue #3; this build reports its version and the
/// configuration it would start with.
let usage = """
    usage: nest-server <command>

    commands:
      config      print the configuration read from NEST_* variables (no secrets)
      --version   print the version
      --help      this text

    environment:
      DATABASE_URL   PostgreSQL URL; without it the embedded SQLite file is used
      NEST_DATA_DIR  folder of the embedded SQLite database (default: ./data)
    """

switch CommandLine.arguments.dropFirst().first {
case "--version":
    print("nest-server 0.1.0 (Yjs update v1 compatible)")
case "config":
    let env = ProcessInfo.processInfo.environment
    let store = env["DATABASE_URL"] == nil ? "sqlite (\(env["NEST_DATA_DIR"] ?? "./data")/nest.sqlite)" : "postgresql (DATABASE_URL set)"
    print("store: \(store)")
case "--help", "-h", nil:
    print(usage)
default:
    FileHandle.standardError.write(Data("nest-server: unknown command\n\(usage)\n".utf8))
    exit(2)
}
