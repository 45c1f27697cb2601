import ArgumentParser
import Foundation
import Logging
import SyncProtocol
import SyncServer
import CRDT

/// `nest-server`: the Nest Sync server and its admin commands.
@main
struct NestServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nest-server",
        abstract: "The Nest Sync server: WebSocket sync of Yjs documents, durable on SQLite (default) or PostgreSQL.",
        version: "0.1.0",
        subcommands: [Serve.self, Migrate.self, Token.self, Members.self, DocCommand.self, JobsCommand.self, ProjectionsCommand.self, PushCommand.self]
    )
}

/// Options shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(help: "Folder of the embedded SQLite database (env NEST_DATA_DIR, default ./data).")
    var dataDir: String?

    @Option(help: "PostgreSQL URL (env DATABASE_URL). Without it the embedded SQLite file is used.")
    var databaseURL: String?

    func apply(to config: inout ServerConfiguration) {
        let env = ProcessInfo.processInfo.environment
        config.dataDirectory = dataDir ?? env["NEST_DATA_DIR"] ?? config.dataDirectory
        config.databaseURL = databaseURL ?? env["DATABASE_URL"]
    }

    /// Runs `body` with the configured store, migrated.
    func withStore<T: Sendable>(_ body: @escaping @Sendable (any DocumentStore) async throws -> T) async throws -> T {
        var config = ServerConfiguration()
        apply(to: &config)
        var logger = Logger(label: "nest-server")
        logger.logLevel = .warning
        return try await NestServerApp.withStore(config, logger: logger, body)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server until SIGTERM or SIGINT.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Address to listen on (env NEST_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port; 0 picks a free one (env NEST_PORT, default 8787).") var port: Int?
    @Option(help: "HS256 token secret (env NEST_JWT_SECRET).") var jwtSecret: String?
    @Option(help: "JSON Web Key Set file with ES256/RS256 public keys (env NEST_JWKS_FILE).") var jwksFile: String?
    @Option(help: "Largest message in bytes (env NEST_MAX_MESSAGE_BYTES, default 8388608).") var maxMessageBytes: Int?
    @Option(help: "Updates per second per connection (env NEST_UPDATES_PER_SECOND, default 200).") var updatesPerSecond: Int?
    @Option(help: "KiB of updates a loaded document collects past its snapshot before they are folded into a new one (env NEST_COMPACTION_MIN_KB, default 64).") var compactionMinKb: Int?
    @Option(help: "Seconds an unused document stays loaded (env NEST_ROOM_IDLE_SECONDS, default 60).") var roomIdleSeconds: Int?
    @Option(help: "Memory budget for loaded documents in MiB (env NEST_MEMORY_BUDGET_MB, default 256).") var memoryBudgetMb: Int?
    @Option(help: "Queue of connections not yet accepted (env NEST_LISTEN_BACKLOG, default 4096).") var listenBacklog: Int?
    @Option(help: "Connections accepted per wake-up of the listening socket (env NEST_ACCEPTS_PER_WAKEUP, default 64).") var acceptsPerWakeup: Int?
    @Option(help: "Connections set up at once (env NEST_MAX_CONCURRENT_JOINS, default 128).") var maxConcurrentJoins: Int?
    @Option(help: "Connections waiting to be set up before new ones get 1013 (env NEST_JOIN_QUEUE, default 10000).") var joinQueue: Int?
    @Option(help: "Seconds between WebSocket pings; silent connections are dropped (env NEST_KEEPALIVE_SECONDS, default 30).") var keepaliveSeconds: Int?
    @Option(help: "Seconds a /v1/sync connection has to send its hello (env NEST_HELLO_TIMEOUT_SECONDS, default 10).") var helloTimeoutSeconds: Int?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var config = ServerConfiguration()
        store.apply(to: &config)
        config.host = host ?? env["NEST_HOST"] ?? config.host
        config.port = port ?? env["NEST_PORT"].flatMap(Int.init) ?? config.port
        config.jwtSecret = jwtSecret ?? env["NEST_JWT_SECRET"]
        config.jwksFile = jwksFile ?? env["NEST_JWKS_FILE"]
        config.maxMessageBytes = maxMessageBytes ?? env["NEST_MAX_MESSAGE_BYTES"].flatMap(Int.init) ?? config.maxMessageBytes
        config.updatesPerSecond = updatesPerSecond ?? env["NEST_UPDATES_PER_SECOND"].flatMap(Int.init) ?? config.updatesPerSecond
        config.roomIdleSeconds = roomIdleSeconds ?? env["NEST_ROOM_IDLE_SECONDS"].flatMap(Int.init) ?? config.roomIdleSeconds
        config.compactionMinimumBytes = max(1, compactionMinKb ?? env["NEST_COMPACTION_MIN_KB"].flatMap(Int.init) ?? (config.compactionMinimumBytes >> 10)) << 10
        config.memoryBudgetBytes = (memoryBudgetMb ?? env["NEST_MEMORY_BUDGET_MB"].flatMap(Int.init)).map { $0 << 20 } ?? config.memoryBudgetBytes
        config.listenBacklog = max(1, listenBacklog ?? env["NEST_LISTEN_BACKLOG"].flatMap(Int.init) ?? config.listenBacklog)
        config.acceptsPerWakeup = max(1, acceptsPerWakeup ?? env["NEST_ACCEPTS_PER_WAKEUP"].flatMap(Int.init) ?? config.acceptsPerWakeup)
        config.maxConcurrentJoins = max(1, maxConcurrentJoins ?? env["NEST_MAX_CONCURRENT_JOINS"].flatMap(Int.init) ?? config.maxConcurrentJoins)
        config.joinQueueLimit = max(0, joinQueue ?? env["NEST_JOIN_QUEUE"].flatMap(Int.init) ?? config.joinQueueLimit)
        config.keepaliveSeconds = max(1, keepaliveSeconds ?? env["NEST_KEEPALIVE_SECONDS"].flatMap(Int.init) ?? config.keepaliveSeconds)
        config.helloTimeoutSeconds = max(1, helloTimeoutSeconds ?? env["NEST_HELLO_TIMEOUT_SECONDS"].flatMap(Int.init) ?? config.helloTimeoutSeconds)
        config.runJobs = (env["NEST_JOBS"] ?? "on") != "off"
        config.jobConcurrency = max(1, env["NEST_JOB_CONCURRENCY"].flatMap(Int.init) ?? config.jobConcurrency)
        config.jobLeaseSeconds = max(3, env["NEST_JOB_LEASE_SECONDS"].flatMap(Int.init) ?? config.jobLeaseSeconds)
        if let base = env["NEST_AI_BASE_URL"], !base.isEmpty {
            var ai = AIProviderConfiguration(baseURL: base, apiKey: env["NEST_AI_API_KEY"], model: env["NEST_AI_MODEL"] ?? "deepseek-chat")
            ai.note = env["NEST_AI_NOTE"]
            if let t = env["NEST_AI_READ_TIMEOUT_SECONDS"].flatMap(Int.init) { ai.readTimeout = .seconds(max(1, t)) }
            if let n = env["NEST_AI_MAX_TOKENS"].flatMap(Int.init) { ai.maxTokens = max(16, n) }
            config.ai = ai
            config.aiMonthlyTokenBudget = env["NEST_AI_MONTHLY_TOKEN_BUDGET"].flatMap(Int.init)
            if let window = env["NEST_AI_OFFPEAK_UTC"], !window.isEmpty {
                guard let parsed = OffPeakWindow(parsing: window) else {
                    throw ValidationError("NEST_AI_OFFPEAK_UTC must look like 16:30-00:30 (UTC), not \(window)")
                }
                config.aiOffPeak = parsed
            }
        }
        config.push.vapidKeyFile = env["NEST_VAPID_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.vapidSubject = env["NEST_VAPID_SUBJECT"] ?? config.push.vapidSubject
        config.push.apnsKeyFile = env["NEST_APNS_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.apnsKeyID = env["NEST_APNS_KEY_ID"]
        config.push.apnsTeamID = env["NEST_APNS_TEAM_ID"]
        config.push.apnsBaseURL = env["NEST_APNS_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.fcmServiceAccountFile = env["NEST_FCM_SERVICE_ACCOUNT"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.fcmBaseURL = env["NEST_FCM_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.caFile = env["NEST_PUSH_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        config.push.editsWindowSeconds = max(1, env["NEST_PUSH_EDITS_WINDOW_SECONDS"].flatMap(Int.init) ?? config.push.editsWindowSeconds)
        config.push.backgroundIntervalSeconds = max(0, env["NEST_PUSH_BACKGROUND_INTERVAL_SECONDS"].flatMap(Int.init) ?? config.push.backgroundIntervalSeconds)
        config.push.requestTimeoutSeconds = max(1, env["NEST_PUSH_TIMEOUT_SECONDS"].flatMap(Int.init) ?? config.push.requestTimeoutSeconds)
        var logger = Logger(label: "nest-server")
        logger.logLevel = env["NEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        FileHandle.standardOutput.write(Data("nest-server 0.1.0: \(config.summary)\n".utf8))
        let host = config.host
        try await NestServerApp.run(config, logger: logger) { port in
            // Unbuffered, so that scripts waiting for this line see it at once.
            FileHandle.standardOutput.write(Data("listening on \(host):\(port)\n".utf8))
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema.")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await store.withStore { _ in }
        print("schema up to date")
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Issue tokens (development and tests).", subcommands: [Issue.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an HS256 token for a user and grant the role in the workspace.")
        @OptionGroup var store: StoreOptions
        @Option(help: "User id (the token's sub).") var user: String
        @Option(help: "Workspace to grant the role in.") var workspace: String?
        @Option(help: "owner, admin, editor or viewer.") var role: String = "editor"
        @Option(help: "Lifetime, e.g. 90s, 30m, 1h, 7d.") var ttl: String = "1h"
        @Option(help: "HS256 secret (env NEST_JWT_SECRET).") var jwtSecret: String?

        func run() async throws {
            guard let secret = jwtSecret ?? ProcessInfo.processInfo.environment["NEST_JWT_SECRET"] else {
                throw ValidationError("no secret: set NEST_JWT_SECRET or --jwt-secret")
            }
            guard let seconds = parseDuration(ttl) else { throw ValidationError("bad --ttl \(ttl): use e.g. 90s, 30m, 1h, 7d") }
            if let workspace {
                guard let r = Role(name: role) else { throw ValidationError("bad --role \(role): owner, admin, editor or viewer") }
                try await store.withStore { try await $0.setMembership(workspaceID: workspace, userID: user, role: r) }
            }
            print(try await TokenVerifier(secret: secret).issue(user: user, ttl: seconds))
        }
    }
}

struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage workspace memberships.", subcommands: [Add.self, Remove.self, List.self])

    struct Add: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Option var workspace: String
        @Option var user: String
        @Option(help: "owner, admin, editor or viewer.") var role: String
        func run() async throws {
            guard let r = Role(name: role) else { throw ValidationError("bad --role \(role): owner, admin, editor or viewer") }
            try await store.withStore { try await $0.setMembership(workspaceID: workspace, userID: user, role: r) }
            print("\(user) is \(r) of \(workspace)")
        }
    }

    struct Remove: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Option var workspace: String
        @Option var user: String
        func run() async throws {
            let removed = try await store.withStore { try await $0.removeMembership(workspaceID: workspace, userID: user) }
            print(removed ? "removed \(user) from \(workspace)" : "\(user) was not a member of \(workspace)")
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var store: StoreOptions
        @Option var workspace: String
        func run() async throws {
            let members = try await store.withStore { store in try await store.members(workspaceID: workspace).map { "\($0.userID)\t\($0.role)" } }
            for line in members { print(line) }
        }
    }
}

struct DocCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doc", abstract: "Look at stored documents.", subcommands: [Export.self, Inspect.self])

    /// Loads a document from the store into a CRDT document.
    static func load(_ store: StoreOptions, _ id: String) async throws -> (Doc, StoredDocument) {
        let stored = try await store.withStore { try await $0.load(documentID: id) }
        let doc = Doc(clientID: 0)
        if let s = stored.snapshot { try doc.applyUpdate(s) }
        for u in stored.updates { try doc.applyUpdate(u.update) }
        return (doc, stored)
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a document's state as one Yjs v1 update (to --out, or hex on stdout).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Document id, e.g. w1/draft/d1.") var id: String
        @Option(help: "File to write the binary update to.") var out: String?

        func run() async throws {
            let (doc, stored) = try await DocCommand.load(store, id)
            guard stored.lastSeq > 0 else { throw ValidationError("no document \(id) in the store") }
            let bytes = doc.encodeStateAsUpdate(since: [:])
            if let out {
                try Data(bytes).write(to: URL(fileURLWithPath: out))
                print("wrote \(bytes.count) bytes to \(out)")
            } else {
                print(bytes.map { String(format: "%02x", $0) }.joined())
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a document's log, state vector, structs and content.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Document id, e.g. w1/draft/d1.") var id: String

        func run() async throws {
            let (doc, stored) = try await DocCommand.load(store, id)
            guard stored.lastSeq > 0 else { throw ValidationError("no document \(id) in the store") }
            let structs = doc.inspectStructs()
            print("document \(id): last seq \(stored.lastSeq), snapshot through \(stored.snapshotSeq) (\(stored.snapshot?.count ?? 0) bytes), \(stored.updates.count) updates after it")
            print("state vector: \(doc.stateVector.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))")
            print("structs: \(structs.count) (\(structs.filter { $0.kind == .gc }.count) gc, \(structs.filter(\.deleted).count) deleted), encoded \(doc.encodeStateAsUpdate(since: [:]).count) bytes, pending: \(doc.hasPending)")
            for root in doc.inspectRoots() { print("\(root.name) (\(root.kind)): \(root.json)") }
        }
    }
}

/// Parses `90s`, `30m`, `1h`, `7d` into seconds.
func parseDuration(_ s: String) -> TimeInterval? {
    guard let unit = s.last, let n = Double(s.dropLast()), n > 0 else { return Double(s) }
    switch unit {
    case "s": return n
    case "m": return n * 60
    case "h": return n * 3600
    case "d": return n * 86400
    default: return nil
    }
}
