import ArgumentParser
import CRDT
import Foundation
import Model
import SyncClient

/// `nest ai request|list|show|accept|reject`: AI suggestions for drafts,
/// answered by the server's job while this device may be offline.
struct AI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ai", abstract: "AI suggestions: request one, list them, accept or reject.",
        subcommands: [Request.self, List.self, Show.self, Accept.self, Reject.self])

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record an AI request in a draft; the server answers in the draft.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Option(help: "caption, hashtags, rewrite, translate or shorten.") var kind: String
        @Option(help: "What to generate.") var prompt: String
        @Option(help: "rewrite: the tone, e.g. playful.") var tone: String?
        @Option(help: "translate: the language, e.g. German.") var language: String?
        @Option(help: "shorten: the platform to fit.") var platform: String?
        @Flag(help: "Not urgent: the server may wait for its provider's off-peak window.") var low = false

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let user = try ctx.profile().user
            let target = try platform.map { p throws(ModelError) in try Platform(name: p) }
            let (kind, prompt, tone, language, low) = (kind, prompt, tone, language, low)
            let id = try await ctx.edit(name) { doc in
                try Draft(name: name, doc: doc).requestAI(kind: kind, prompt: prompt, by: user, tone: tone, language: language, platform: target,
                                                          lowPriority: low)
            }
            if global.json { return try Output.json(["request": id]) }
            print("requested \(kind) as \(id); `nest ai show \(name.id) \(id)` shows the suggestion once the server has answered and you synced")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "AI requests of a draft (or of every draft), with their status.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id; all drafts of the workspace when omitted.") var draft: String?

        func run() async throws {
            let ctx = try Context(global)
            var names: [DocumentName] = []
            if let draft {
                names = [try ctx.draftName(draft)]
            } else {
                let ws = try ctx.workspace()
                names = try ctx.store.documentNames().compactMap { try? DocumentName(parsing: $0) }.filter { $0.kind == .draft && $0.workspace == ws }.sorted()
            }
            var rows: [(DocumentName, AIRequest)] = []
            for name in names {
                for r in try ctx.store.read(name.description, { try Draft(name: name, doc: $0).aiRequests }) { rows.append((name, r)) }
            }
            if global.json { return try Output.json(rows.map { AIListed(draft: $0.0.id, request: $0.1) }) }
            if rows.isEmpty { print("no AI requests") }
            for (name, r) in rows {
                let flag = r.flags.isEmpty ? "" : "  ⚠ \(r.flags.count) rule\(r.flags.count == 1 ? "" : "s") broken"
                print("\(name.id)  \(r.id)  \(r.kind)  [\(r.status)]\(flag)  \"\(r.prompt)\"")
            }
        }
    }

    struct AIListed: Encodable {
        var draft: String
        var request: AIRequest
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One AI request: its suggestion, the rules it breaks, who answered.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Argument(help: "Request id.") var request: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let id = request
            guard let r = try ctx.store.read(name.description, { try Draft(name: name, doc: $0).aiRequest(id) }) else {
                throw ModelError.unknownAIRequest(id)
            }
            if global.json { return try Output.json(r) }
            print("\(r.kind) [\(r.status)] requested by \(r.requestedBy), \(Output.relative(iso: r.requestedAt))")
            print("prompt:     \(r.prompt)")
            for (label, value) in [("tone", r.tone), ("language", r.language), ("platform", r.platform)] {
                if let value { print("\(label):\(String(repeating: " ", count: 11 - label.count))\(value)") }
            }
            switch r.aiStatus {
            case .requested?: print("waiting for the server's answer (sync again later)")
            case .generating?: print("so far:     \(r.result ?? "")")
            case .failed?: print("failed:     \(r.error ?? "no reason given")")
            default: if let text = r.result { print("suggestion: \(text)") }
            }
            for f in r.flags { print("⚠ breaks:   \(f)") }
            if let model = r.model { print("answered by \(model)\(r.note.map { " — \($0)" } ?? "")") }
            if r.aiStatus == .ready { print("`nest ai accept \(name.id) \(r.id)` applies it; `nest ai reject ...` dismisses it") }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a ready suggestion to the draft (one edit every device receives).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Argument(help: "Request id.") var request: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let id = request
            let caption = try await ctx.edit(name) { doc in
                let d = try Draft(name: name, doc: doc)
                try d.acceptAI(id)
                return d.caption.toString()
            }
            if global.json { return try Output.json(["request": id, "caption": caption]) }
            print("accepted \(id); caption now: \(caption)")
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dismiss a suggestion.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Argument(help: "Request id.") var request: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let id = request
            try await ctx.edit(name) { doc in try Draft(name: name, doc: doc).rejectAI(id) }
            if global.json { return try Output.json(["request": id, "status": "rejected"]) }
            print("rejected \(id)")
        }
    }
}
