/// Everything `nest-server serve` can be configured with. Set from flags and
/// `NEST_*` environment variables (see `nest-server serve --help`).
public struct ServerConfiguration: Sendable {
    /// Address to listen on. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (printed at start). Default 8787.
    public var port = 8787
    /// PostgreSQL URL; when nil the embedded SQLite file in `dataDirectory` is used.
    public var databaseURL: String?
    /// Folder of the embedded SQLite database. Default `./data`.
    public var dataDirectory = "./data"
    /// Shared secret for HS256 tokens (as Supabase issues them).
    public var jwtSecret: String?
    /// Path of a JSON Web Key Set file with public keys for ES256/RS256 tokens (selected by `kid`).
    /// At least one of this and ``jwtSecret`` is required.
    public var jwksFile: String?
    /// Largest WebSocket message accepted, in bytes. Default 8 MiB.
    public var maxMessageBytes = 8 << 20
    /// Most documents one connection may subscribe to. Default 1,000.
    public var maxDocumentsPerConnection = 1_000
    /// Updates per second one connection may send before being refused. Default 200.
    public var updatesPerSecond = 200
    /// Consecutive refused messages after which a flooding connection is closed. Default 100.
    public var maxViolations = 100

    /// Length of the kernel's queue of connections not yet accepted. Default 4,096
    /// (the kernel caps it at `net.core.somaxconn`): with a short queue, a
    /// reconnect storm overflows it and the dropped clients wait out a one-second
    /// SYN retransmission.
    public var listenBacklog = 4_096
    /// Connections accepted per wake-up of the listening socket. Default 64
    /// (NIO's is 4: while the event loops are busy setting up connections, a
    /// reconnect storm then waits in the accept queue).
    public var acceptsPerWakeup = 64
    /// Connections set up at the same time (token, memberships, room load);
    /// later ones wait their turn in arrival order. Default 128.
    public var maxConcurrentJoins = 128
    /// Connections that may wait for a join slot; beyond it a new connection is
    /// closed with 1013 (try again later) at once instead of piling up. Default 10,000.
    public var joinQueueLimit = 10_000

    /// Seconds between WebSocket pings; a connection that sends nothing (not
    /// even the pong) for a whole period after a ping is dropped. Default 30.
    public var keepaliveSeconds = 30
    /// Seconds a `/v1/sync` connection has, from its upgrade, to send its hello
    /// before it is closed (a socket that never speaks holds memory). Default 10.
    public var helloTimeoutSeconds = 10

    /// Seconds a document stays loaded after its last use with nobody subscribed. Default 60.
    public var roomIdleSeconds = 60
    /// Bytes of updates a loaded document collects past its snapshot before
    /// they are folded into a new one (at least the snapshot's size). Default 64 KiB.
    public var compactionMinimumBytes = 64 << 10
    /// Memory budget for loaded documents, in bytes; least recently used ones are unloaded above it. Default 256 MiB.
    public var memoryBudgetBytes = 256 << 20

    /// The AI provider (an OpenAI-compatible API); nil: AI requests wait in
    /// the queue for a node that has one.
    public var ai: AIProviderConfiguration?
    /// Tokens each workspace may use per calendar month (UTC) before new AI
    /// requests fail with a status saying so; nil: no limit.
    public var aiMonthlyTokenBudget: Int?
    /// The provider's cheaper daily window (UTC): low-priority AI requests start in it; nil: at once.
    public var aiOffPeak: OffPeakWindow?
    /// Whether this node runs job workers and keeps projections. Default true.
    public var runJobs = true
    /// Jobs one node runs at the same time. Default 8.
    public var jobConcurrency = 8
    /// How long a claimed job stays this node's without a renewal (renewed every third). Default 30 s.
    public var jobLeaseSeconds = 30

    /// Push providers' credentials and the relay's windows.
    public var push = PushConfiguration()

    public init() {}

    /// The configuration as printed at start: no secrets.
    public var summary: String {
        let store = databaseURL == nil ? "sqlite \(dataDirectory)/nest.sqlite" : "postgresql (DATABASE_URL set)"
        return "listen \(host):\(port), store \(store), jwt \(jwtSecret == nil ? "no HS256 secret" : "HS256 secret set")\(jwksFile.map { ", JWKS \($0)" } ?? ""), "
            + "limits: message \(maxMessageBytes) B, \(maxDocumentsPerConnection) documents, \(updatesPerSecond) updates/s; "
            + "admission: backlog \(listenBacklog), \(acceptsPerWakeup) accepts per wake-up, \(maxConcurrentJoins) joins at once, \(joinQueueLimit) waiting; "
            + "keepalive \(keepaliveSeconds) s, hello within \(helloTimeoutSeconds) s; "
            + "rooms: unload after \(roomIdleSeconds) s idle, memory budget \(memoryBudgetBytes >> 20) MiB, "
            + "compaction past \(compactionMinimumBytes >> 10) KiB of updates; "
            + "jobs: \(runJobs ? "\(jobConcurrency) at a time, lease \(jobLeaseSeconds) s" : "off"), "
            + "AI: \(ai.map { "\($0.model) at \($0.baseURL)" } ?? "none (requests wait)"); \(push.summary)"
    }
}
