import ArgumentParser
import Foundation
import Logging

/// `nest`: the headless ClientNest client. Everything the mobile app does —
/// offline edits kept in a local SQLite store, sync over one WebSocket,
/// conflict review — headless and scriptable.
@main
struct NestCommand: AsyncParsableCommand {
    /// Log lines only for warnings unless NEST_LOG_LEVEL says otherwise:
    /// progress and problems are reported by the commands themselves.
    static func main() async {
        let level = ProcessInfo.processInfo.environment["NEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            if ServerRefusal.occurred { exit(withError: ExitCode(4)) }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "nest",
        abstract: "The Nest Sync terminal client: edit drafts, brand kit and calendar offline; sync when online.",
        discussion: """
            Edits are saved in the local store (--data-dir, env NEST_DATA_DIR, default ~/.nest) before a command \
            returns, then sent to the server unless --offline is given. Run `nest login` first, or `nest demo` to see \
            two devices merge offline edits through a nest-server process it starts.
            """,
        version: "0.1.0",
        subcommands: [
            Login.self, Status.self, Sync.self, Watch.self, Drafts.self, DraftCommand.self, Brand.self, CalendarCommand.self,
            Conflicts.self, AI.self, Devices.self, Push.self, DocCommand.self, Demo.self,
        ]
    )
}
