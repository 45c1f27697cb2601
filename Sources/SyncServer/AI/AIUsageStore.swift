/// What the AI jobs keep in the store besides the jobs: the tokens each
/// request used, counted per workspace and month for the budget, and the
/// answers to prompts already asked, so that an identical prompt (the same
/// draft text, kind, request and brand kit) is answered without a provider call.
public protocol AIUsageStore: Sendable {
    /// Records a request's usage once (a rerun of the same request adds nothing).
    func recordAIUsage(workspace: String, month: String, requestKey: String, usage: ChatUsage, now: Int64) async throws(StoreError)

    /// Tokens (prompt and completion) a workspace used in `month` (`2026-12`).
    func aiTokensUsed(workspace: String, month: String) async throws(StoreError) -> Int

    /// The answer kept for a prompt key, if any.
    func cachedAIAnswer(promptKey: String) async throws(StoreError) -> CachedAIAnswer?

    /// Keeps an answer for a prompt key (the first one stays).
    func cacheAIAnswer(promptKey: String, _ answer: CachedAIAnswer, now: Int64) async throws(StoreError)
}

/// An answer kept for an identical prompt.
public struct CachedAIAnswer: Sendable, Codable, Equatable {
    public var text: String
    public var flags: [String]
    public var model: String

    public init(text: String, flags: [String], model: String) {
        self.text = text
        self.flags = flags
        self.model = model
    }
}

enum AIUsageSchema {
    static let sqlite = """
        CREATE TABLE ai_usage (
            request_key TEXT PRIMARY KEY, workspace TEXT NOT NULL, month TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cache_hit_tokens INTEGER NOT NULL, at INTEGER NOT NULL);
        CREATE INDEX ai_usage_ws_month ON ai_usage(workspace, month);
        CREATE TABLE ai_answers (prompt_key TEXT PRIMARY KEY, answer TEXT NOT NULL, at INTEGER NOT NULL);
        """

    static let postgres = [
        """
        CREATE TABLE IF NOT EXISTS ai_usage (
            request_key TEXT PRIMARY KEY, workspace TEXT NOT NULL, month TEXT NOT NULL,
            prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, cache_hit_tokens BIGINT NOT NULL, at BIGINT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS ai_usage_ws_month ON ai_usage(workspace, month)",
        "CREATE TABLE IF NOT EXISTS ai_answers (prompt_key TEXT PRIMARY KEY, answer TEXT NOT NULL, at BIGINT NOT NULL)",
    ]
}
