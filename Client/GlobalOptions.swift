import Synchronization
import ArgumentParser
import Foundation
import Model
import SyncClient
import SyncProtocol
import CRDT

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Local data directory (env NEST_DATA_DIR, default ~/.nest). One profile per directory.")
    var dataDir: String?

    @Flag(help: "Use no network at all: edits stay in the local outbox.")
    var offline = false

    @Flag(help: "Print machine-readable JSON (read commands).")
    var json = false

    @Option(help: "Workspace to use (default: the one set at login, or your only workspace).")
    var workspace: String?

    var directory: String {
        if let d = dataDir { return d }
        if let d = ProcessInfo.processInfo.environment["NEST_DATA_DIR"], !d.isEmpty { return d }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".nest")
    }

    func open() throws -> LocalStore { try LocalStore(directory: directory) }
}

/// A command's view of the local store and profile.
struct Context {
    let store: LocalStore
    let options: GlobalOptions

    init(_ options: GlobalOptions) throws {
        self.options = options
        store = try options.open()
    }

    func profile() throws -> Profile {
        guard let p = try store.profile() else { throw ClientError.notLoggedIn }
        return p
    }

    /// The workspace commands act in.
    func workspace() throws -> String {
        if let w = options.workspace { return w }
        if let w = try store.meta("workspace") { return w }
        let p = try profile()
        if p.workspaces.count == 1 { return p.workspaces[0].workspaceID }
        if p.workspaces.isEmpty {
            throw ValidationError("no workspace known yet: run `nest sync` once, or pass --workspace")
        }
        throw ValidationError("you belong to \(p.workspaces.count) workspaces (\(p.workspaces.map(\.workspaceID).joined(separator: ", "))): pass --workspace")
    }

    /// Resolves a draft reference: a full name, an id, or a unique id prefix.
    func draftName(_ ref: String) throws -> DocumentName {
        if ref.contains("/") { return try DocumentName(parsing: ref) }
        let ws = try workspace()
        let drafts = try store.documentNames().compactMap { try? DocumentName(parsing: $0) }
            .filter { $0.kind == .draft && $0.workspace == ws }
        if let exact = drafts.first(where: { $0.id == ref }) { return exact }
        let matches = drafts.filter { $0.id.hasPrefix(ref) }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw ClientError.unknownDocument("\(ws)/draft/\(ref)") }
        throw ValidationError("\"\(ref)\" matches \(matches.count) drafts: \(matches.map(\.id).joined(separator: ", "))")
    }

    /// Applies an edit durably, then (unless --offline) sends it.
    func edit<R>(_ name: DocumentName, _ body: (Doc) throws -> R) async throws -> R {
        let user = try profile().user
        let r = try store.edit(name.description, user: user, body)
        await pushAfterEdit()
        return r
    }

    /// A short sync after an edit; failure only means the edit waits in the outbox.
    func pushAfterEdit() async {
        let summary = try? store.outboxSummary()
        if options.offline {
            Output.note("saved locally (\(summary?.pendingUpdates ?? 0) pending; offline)")
            return
        }
        do {
            let report = try await SyncEngine(store: store).run(SyncOptions(mode: .once, timeout: 10, attempts: 1))
            if report.complete && report.pendingAfter == 0 && report.refused.isEmpty {
                Output.note("saved and synced")
            } else {
                if !report.refused.isEmpty { ServerRefusal.happened() }
                for r in report.refused { Output.note("refused by the server: \(r.document): \(r.code) — \(r.text)") }
                if report.pendingAfter > 0 || report.refused.isEmpty {
                    Output.note("saved locally; \(report.pendingAfter) edits wait for the server (run `nest sync`)")
                } else {
                    Output.note("kept locally only: the server will not take it (`nest status` lists refused edits)")
                }
            }
        } catch {
            Output.note("saved locally; not synced: \(error)")
        }
    }
}

/// Whether the server refused an edit this command made: the command still
/// prints what it did, then `nest` exits 4 (as `nest sync` does for refusals).
enum ServerRefusal {
    private static let refused = Mutex(false)
    static func happened() { refused.withLock { $0 = true } }
    static var occurred: Bool { refused.withLock { $0 } }
}
