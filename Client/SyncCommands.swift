import ArgumentParser
import Foundation
import Model
import SyncClient
import SyncProtocol

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save the server and token for this data directory, then sync once.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Server base URL, e.g. http://127.0.0.1:8787") var server: String
    @Option(help: "Access token (JWT) for your user.") var token: String

    func run() async throws {
        let (user, expires) = try Profile.claims(of: token)
        if let expires, expires < Date() { throw ValidationError("this token expired \(Output.relative(expires)); get a new one") }
        guard server.hasPrefix("http://") || server.hasPrefix("https://") || server.hasPrefix("ws://") || server.hasPrefix("wss://") else {
            throw ValidationError("--server must start with http://, https://, ws:// or wss://")
        }
        let ctx = try Context(global)
        try ctx.store.saveProfile(Profile(server: server, token: token, user: user))
        if let w = global.workspace { try ctx.store.setMeta(["workspace": w]) }
        print("logged in as \(user) at \(server) (data in \(global.directory))")
        if global.offline { return }
        do {
            let report = try await SyncEngine(store: ctx.store).run(SyncOptions(mode: .once, timeout: 30, attempts: 2))
            let p = try ctx.profile()
            print("workspaces: \(p.workspaces.map { "\($0.workspaceID) (\($0.role))" }.joined(separator: ", "))")
            print("synced \(report.documentsSynced) documents")
        } catch let e as ClientError {
            if e.code == .network { Output.note("not synced yet: \(e)") } else { throw e }
        }
    }
}

/// The local picture `nest status` prints (also as JSON).
struct StatusInfo: Codable {
    var user: String?
    var server: String?
    var workspaces: [String: String]
    var dataDirectory: String
    var documents: Int
    var pendingEdits: Int
    var pendingDocuments: Int
    var oldestPending: String?
    var refusedEdits: Int
    var openConflicts: Int
    var lastSync: String?
    var state: String
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What is saved where: pending edits, last sync, conflicts (no network).",
        discussion: "Exit status: 4 when the server refused edits that are kept here (listed under refused), else 0.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let ctx = try Context(global)
        let profile = try ctx.store.profile()
        let summary = try ctx.store.outboxSummary()
        let names = try ctx.store.documentNames()
        var conflicts = 0
        for n in names { conflicts += (try? ctx.store.read(n) { ConflictLog.list($0).filter(\.isOpen).count }) ?? 0 }
        let last = try ctx.store.meta("last_sync_at").flatMap(Double.init).map { Date(timeIntervalSince1970: $0) }
        let state = summary.refused > 0 ? "refused" : summary.pendingUpdates == 0 ? (last == nil ? "never synced" : "synced") : "pending"
        let info = StatusInfo(
            user: profile?.user, server: profile?.server,
            workspaces: Dictionary(uniqueKeysWithValues: (profile?.workspaces ?? []).map { ($0.workspaceID, $0.role.description) }),
            dataDirectory: global.directory, documents: names.count, pendingEdits: summary.pendingUpdates,
            pendingDocuments: summary.pendingDocuments, oldestPending: summary.oldestPending.map { $0.formatted(.iso8601) },
            refusedEdits: summary.refused, openConflicts: conflicts, lastSync: last.map { $0.formatted(.iso8601) }, state: state
        )
        // Refused edits are not on the server: the status says so, and exits 4 as `nest sync` does.
        if global.json {
            try Output.json(info)
            if summary.refused > 0 { throw ExitCode(4) }
            return
        }
        print("user:       \(profile?.user ?? "(not logged in — run `nest login`)")")
        if let p = profile {
            print("server:     \(p.server)")
            print("workspaces: \(p.workspaces.isEmpty ? "(unknown until the first sync)" : p.workspaces.map { "\($0.workspaceID) (\($0.role))" }.joined(separator: ", "))")
        }
        print("documents:  \(names.count) in \(global.directory)")
        if summary.pendingUpdates == 0 && summary.refused == 0 {
            print("pending:    none — every local edit is on the server")
        } else if summary.pendingUpdates == 0 {
            print("pending:    none waiting to be sent; the refused edits below are not on the server")
        } else {
            let age = summary.oldestPending.map { ", oldest \(Output.relative($0))" } ?? ""
            print("pending:    \(summary.pendingUpdates) edits in \(summary.pendingDocuments) documents\(age) — run `nest sync`")
        }
        if summary.refused > 0 {
            print("refused:    \(summary.refused) edits the server will not take:")
            for r in try ctx.store.refused().prefix(10) { print("            \(r.document): \(r.code) — \(r.text)") }
        }
        print("conflicts:  \(conflicts == 0 ? "none open" : "\(conflicts) open — see `nest conflicts list`")")
        print("last sync:  \(last.map { Output.relative($0) } ?? "never")")
        if summary.refused > 0 { throw ExitCode(4) }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync once: send pending edits, fetch what changed.",
        discussion: "Exit status: 0 when every edit is acknowledged by the server, 3 when some still wait, 4 when the server refused some (in this sync or an earlier one; `nest status` lists them)."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Give up after this many seconds.") var timeout: Double = 120
    @Flag(help: "Compare every local document with the server, not only those the catalog says changed.") var full = false

    func run() async throws {
        if global.offline { throw ValidationError("--offline: sync needs the network") }
        let ctx = try Context(global)
        let start = Date()
        let quiet = global.json
        var options = SyncOptions(mode: .once, timeout: timeout)
        options.fullResync = full
        options.onStatus = { status in
            guard !quiet else { return }
            switch status {
            case .connecting(let n): if n > 1 { Output.note("connecting (attempt \(n))…") }
            case .syncing(let p): if p.documentsTotal >= 20 { Output.note("syncing \(p.documentsDone)/\(p.documentsTotal) documents…") }
            case .offline(let why): Output.note("offline: \(why)")
            case .synced: break
            }
        }
        let report = try await SyncEngine(store: ctx.store).run(options)
        let seconds = Date().timeIntervalSince(start)
        if global.json {
            try Output.json(SyncSummary(report, seconds: seconds))
        } else {
            print("synced \(Output.count(report.documentsSynced, "document")) in \(String(format: "%.2f", seconds)) s: sent \(Output.count(report.editsAcked, "edit")) "
                  + "(\(Output.count(report.updatesAcked, "update")) acked), received \(Output.count(report.remoteUpdates, "update")); "
                  + "\(report.bytesSent) bytes out, \(report.bytesReceived) in")
            if report.conflictsRecorded > 0 { print("\(Output.count(report.conflictsRecorded, "new conflict")) — see `nest conflicts list`") }
            for p in report.documentProblems { print("problem: \(p.document): \(p.code) — \(p.text)") }
            for r in report.refused { print("refused: \(r.document): \(r.code) — \(r.text)") }
            let earlier = try ctx.store.refused().filter { e in !report.refused.contains { $0.document == e.document } }
            for r in earlier.prefix(10) { print("refused earlier: \(r.document): \(r.code) — \(r.text)") }
            if report.pendingAfter > 0 { print("\(Output.count(report.pendingAfter, "edit")) still \(report.pendingAfter == 1 ? "waits" : "wait") for the server") }
        }
        // Edits refused in an earlier sync are still not on the server: not a clean sync either.
        let standingRefusals = try ctx.store.outboxSummary().refused
        if !report.refused.isEmpty || standingRefusals > 0 { throw ExitCode(4) }
        if !report.complete || report.pendingAfter > 0 { throw ExitCode(3) }
    }
}

/// `nest sync --json` output.
struct SyncSummary: Codable {
    var documentsSynced, documentsChanged, remoteUpdates, updatesAcked, editsAcked, conflictsRecorded, bytesSent, bytesReceived, pendingAfter: Int
    var refused: [String]
    var problems: [String]
    var complete: Bool
    var seconds: Double

    init(_ r: SyncReport, seconds: Double) {
        documentsSynced = r.documentsSynced
        documentsChanged = r.documentsChanged
        remoteUpdates = r.remoteUpdates
        updatesAcked = r.updatesAcked
        editsAcked = r.editsAcked
        conflictsRecorded = r.conflictsRecorded
        bytesSent = r.bytesSent
        bytesReceived = r.bytesReceived
        pendingAfter = r.pendingAfter
        refused = r.refused.map { "\($0.document): \($0.code)" }
        problems = r.documentProblems.map { "\($0.document): \($0.code)" }
        complete = r.complete
        self.seconds = seconds
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stay connected: send edits as they are made, print remote changes live (Ctrl-C to stop).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        if global.offline { throw ValidationError("--offline: watch needs the network") }
        let ctx = try Context(global)
        let store = ctx.store
        let json = global.json
        _ = try await SyncEngine(store: store).run(SyncOptions(
            mode: .watch,
            onStatus: { status in
                switch status {
                case .connecting(let n): Output.note(n == 1 ? "connecting…" : "reconnecting (attempt \(n))…")
                case .offline(let why): Output.note("offline: \(why)")
                case .syncing, .synced: break
                }
            },
            onRemoteChange: { name in
                let line = Describe.change(name, store: store)
                if json {
                    Output.jsonLine(["document": name, "summary": line])
                } else {
                    Output.line("\(Date().formatted(date: .omitted, time: .standard))  \(name)  \(line)")
                }
            },
            onEvent: { kind, name, payload in Output.line("event \(kind) \(name) \(payload)") }
        ))
    }
}

/// One-line descriptions of documents for live output.
enum Describe {
    static func change(_ name: String, store: LocalStore) -> String {
        guard let n = try? DocumentName(parsing: name), let doc = try? store.load(name) else { return "changed" }
        switch n.kind {
        case .draft:
            guard let d = try? Draft(name: n, doc: doc) else { return "changed" }
            let v = d.value
            return "draft \"\(v.title)\" [\(v.status.rawValue)] caption: \(Output.oneLine(v.caption))"
        case .brandkit:
            guard let b = try? BrandKit(name: n, doc: doc) else { return "changed" }
            let v = b.value
            return "brand kit \"\(v.title)\": " + v.colors.map { "\($0.name) \($0.hex)" }.joined(separator: ", ")
        case .calendar:
            guard let c = try? ContentCalendar(name: n, doc: doc) else { return "changed" }
            return "calendar: \(c.entries.filter { $0.status != .cancelled }.count) scheduled posts"
        }
    }
}
