import PostgresNIO

extension PostgresDocumentStore: AIUsageStore {
    public func recordAIUsage(workspace: String, month: String, requestKey: String, usage: ChatUsage, now: Int64) async throws(StoreError) {
        _ = try await run("AI usage") { [self] in
            try await client.query("""
                INSERT INTO ai_usage (request_key, workspace, month, prompt_tokens, completion_tokens, cache_hit_tokens, at)
                VALUES (\(requestKey), \(workspace), \(month), \(usage.promptTokens), \(usage.completionTokens), \(usage.cacheHitTokens), \(now))
                ON CONFLICT (request_key) DO NOTHING
                """, logger: logger)
        }
    }

    public func aiTokensUsed(workspace: String, month: String) async throws(StoreError) -> Int {
        try await run("AI usage") { [self] in
            for try await n in try await client.query("""
                SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM ai_usage WHERE workspace = \(workspace) AND month = \(month)
                """, logger: logger).decode(Int.self) { return n }
            return 0
        }
    }

    public func cachedAIAnswer(promptKey: String) async throws(StoreError) -> CachedAIAnswer? {
        let text: String? = try await run("AI cache") { [self] in
            for try await t in try await client.query("SELECT answer FROM ai_answers WHERE prompt_key = \(promptKey)", logger: logger)
                .decode(String.self) { return t }
            return nil
        }
        return try text.map(CachedAIAnswer.decode)
    }

    public func cacheAIAnswer(promptKey: String, _ answer: CachedAIAnswer, now: Int64) async throws(StoreError) {
        let json = answer.json
        _ = try await run("AI cache") { [self] in
            try await client.query(
                "INSERT INTO ai_answers (prompt_key, answer, at) VALUES (\(promptKey), \(json), \(now)) ON CONFLICT (prompt_key) DO NOTHING", logger: logger)
        }
    }
}
