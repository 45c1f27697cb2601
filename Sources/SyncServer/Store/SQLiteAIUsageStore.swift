import Foundation
import GRDB

extension SQLiteDocumentStore: AIUsageStore {
    public func recordAIUsage(workspace: String, month: String, requestKey: String, usage: ChatUsage, now: Int64) async throws(StoreError) {
        try await write("AI usage") { db in
            try db.execute(sql: """
                INSERT INTO ai_usage (request_key, workspace, month, prompt_tokens, completion_tokens, cache_hit_tokens, at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(request_key) DO NOTHING
                """, arguments: [requestKey, workspace, month, usage.promptTokens, usage.completionTokens, usage.cacheHitTokens, now])
        }
    }

    public func aiTokensUsed(workspace: String, month: String) async throws(StoreError) -> Int {
        try await read("AI usage") { db in
            try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM ai_usage WHERE workspace = ? AND month = ?",
                             arguments: [workspace, month]) ?? 0
        }
    }

    public func cachedAIAnswer(promptKey: String) async throws(StoreError) -> CachedAIAnswer? {
        let text = try await read("AI cache") { db in try String.fetchOne(db, sql: "SELECT answer FROM ai_answers WHERE prompt_key = ?", arguments: [promptKey]) }
        return try text.map(CachedAIAnswer.decode)
    }

    public func cacheAIAnswer(promptKey: String, _ answer: CachedAIAnswer, now: Int64) async throws(StoreError) {
        let json = answer.json
        try await write("AI cache") { db in
            try db.execute(sql: "INSERT INTO ai_answers (prompt_key, answer, at) VALUES (?, ?, ?) ON CONFLICT(prompt_key) DO NOTHING",
                           arguments: [promptKey, json, now])
        }
    }
}

extension CachedAIAnswer {
    var json: String { (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}" }

    static func decode(_ text: String) throws(StoreError) -> CachedAIAnswer {
        do { return try JSONDecoder().decode(CachedAIAnswer.self, from: Data(text.utf8)) } catch {
            throw StoreError(.corrupt, "a cached AI answer is not JSON: \(error)")
        }
    }
}
