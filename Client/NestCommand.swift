import ArgumentParser

/// `nest`: the headless ClientNest client. Everything the mobile app does —
/// offline edits kept in a local SQLite store, sync over one WebSocket,
/// conflict review — headless and scriptable.
@main
struct NestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nest",
        abstract: "The Nest Sync terminal client: edit drafts, brand kit and calendar offline; sync when online.",
        discussion: """
            Edits are saved in the local store (--data-dir, env NEST_DATA_DIR, default ~/.nest) before a command \
            returns, then sent to the server unless --offline is given. Run `nest login` first, or `nest demo` to see \
            two devices merge offline edits through an embedded server.
            """,
        version: "0.1.0",
        subcommands: [
            Login.self, Status.self, Sync.self, Watch.self, Drafts.self, DraftCommand.self, Brand.self, CalendarCommand.self,
            Conflicts.self, AI.self, DocCommand.self, Demo.self,
        ]
    )
}
