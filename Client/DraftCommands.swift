import ArgumentParser
import CRDT
import Foundation
import Model
import SyncClient

struct Drafts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, create, show, edit and delete post drafts.",
        subcommands: [List.self, New.self, Show.self, Edit.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workspace's drafts.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Include deleted drafts.") var all = false

        func run() async throws {
            let ctx = try Context(global)
            let ws = try ctx.workspace()
            let pending = Set(try ctx.store.pendingDocuments()), refused = try ctx.store.refusedDocuments()
            var values: [DraftValue] = []
            for name in try ctx.store.documentNames() {
                guard let n = try? DocumentName(parsing: name), n.kind == .draft, n.workspace == ws else { continue }
                let v = try ctx.store.read(name) { try Draft(name: n, doc: $0).value }
                if all || !v.deleted { values.append(v) }
            }
            values.sort { ($0.createdAt ?? "", $0.name) > ($1.createdAt ?? "", $1.name) }
            if global.json { return try Output.json(values) }
            if values.isEmpty { return print("no drafts in \(ws) — create one with `nest drafts new --title TITLE`") }
            Output.table(["ID", "TITLE", "STATUS", "CAPTION", "CREATED", "SYNC"], values.map { v in
                let id = (try? DocumentName(parsing: v.name).id) ?? v.name
                let sync = refused.contains(v.name) ? "refused" : pending.contains(v.name) ? "pending" : "synced"
                let flags = (v.deleted ? " (deleted)" : "") + (v.openConflicts > 0 ? " ⚠\(v.openConflicts)" : "")
                return [id, v.title + flags, v.status.rawValue, Output.oneLine(v.caption), v.createdAt.map(Output.relative(iso:)) ?? "", sync]
            })
        }
    }

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a draft; prints its id.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Title.") var title: String
        @Option(help: "Caption text.") var caption: String?
        @Option(help: "Hashtags, comma-separated, without #.") var hashtags: String?
        @Option(help: "Platforms, comma-separated (instagram, x, linkedin, facebook, tiktok, threads).") var platforms: String?
        @Option(help: "Use this id instead of a random one.") var id: String?

        func run() async throws {
            let ctx = try Context(global)
            let name = try DocumentName(workspace: try ctx.workspace(), kind: .draft, id: id ?? DocumentName.newID())
            if try ctx.store.hasDocument(name.description) { throw ValidationError("draft \(name.id) already exists") }
            let platformList = try (platforms ?? "").split(separator: ",").map { try Platform(name: $0.trimmingCharacters(in: .whitespaces)) }
            try await ctx.edit(name) { doc in
                let d = try Draft(name: name, doc: doc)
                try d.create(title: title)
                if let caption { try d.replaceCaption(caption) }
                if let hashtags { try d.addHashtags(hashtags.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
                for p in platformList { try d.setPlatform(p) }
            }
            if global.json { return try Output.json(["id": name.id, "name": name.description]) }
            print(name.id)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one draft.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id (or unique prefix, or full name).") var draft: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let v = try ctx.store.read(name.description) { try Draft(name: name, doc: $0).value }
            if global.json { return try Output.json(v) }
            print("\(v.title)  [\(v.status.rawValue)]\(v.deleted ? "  (deleted)" : "")")
            print("id:        \(name.id)  (\(name))")
            print("sync:      \(try Output.syncState(of: name.description, in: ctx.store))")
            if let c = v.createdAt { print("created:   \(Output.relative(iso: c))") }
            print("caption:   \(v.caption.isEmpty ? "(empty)" : v.caption.replacingOccurrences(of: "\n", with: "\n           "))")
            if !v.hashtags.isEmpty { print("hashtags:  \(v.hashtags.map { "#\($0)" }.joined(separator: " "))") }
            for (p, s) in v.platforms.sorted(by: { $0.key < $1.key }) {
                let problems = (Platform(rawValue: p)).map { PlatformRules.problems(of: v, on: $0) } ?? []
                print("platform:  \(p)\(s.caption.map { " (own caption: \($0))" } ?? "")\(problems.isEmpty ? " ✓" : " ✗ " + problems.joined(separator: "; "))")
            }
            for m in v.media { print("media:     \(m.kind.rawValue) \(m.asset)\(m.alt.isEmpty ? "" : " — \(m.alt)")") }
            for c in v.comments { print("comment:   \(c.author) (\(Output.relative(iso: c.at))): \(c.text)") }
            for r in v.ai {
                print("ai:        \(r.id) \(r.kind) [\(r.status)] \"\(r.prompt)\" by \(r.requestedBy)\(r.result.map { " → \($0)" } ?? "")\(r.error.map { " ✗ \($0)" } ?? "")")
            }
            if v.openConflicts > 0 { print("conflicts: \(v.openConflicts) open — `nest conflicts list`") }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a draft's title, status, hashtags, platforms, media or comments.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Option(help: "New title.") var title: String?
        @Option(help: "New status (draft, in_review, approved, scheduled, published, failed).") var status: String?
        @Option(help: "Add hashtags, comma-separated.") var addHashtags: String?
        @Option(help: "Remove a hashtag.") var removeHashtag: String?
        @Option(help: "Enable a platform.") var platform: String?
        @Option(help: "With --platform: a caption only for that platform.") var platformCaption: String?
        @Option(help: "Disable a platform.") var removePlatform: String?
        @Option(help: "Attach media: KIND:ASSET (image, video, carousel).") var media: String?
        @Option(help: "With --media: alt text.") var alt: String = ""
        @Option(help: "Add a comment.") var comment: String?

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let user = try ctx.profile().user
            let newStatus = try status.map { s throws(ModelError) in try DraftStatus(name: s) }
            let enable = try platform.map { p throws(ModelError) in try Platform(name: p) }
            let disable = try removePlatform.map { p throws(ModelError) in try Platform(name: p) }
            var mediaRef: (MediaKind, String)?
            if let media {
                let parts = media.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, let kind = MediaKind(rawValue: parts[0]) else { throw ValidationError("--media takes KIND:ASSET, e.g. image:assets/spring.jpg") }
                mediaRef = (kind, parts[1])
            }
            guard title != nil || newStatus != nil || addHashtags != nil || removeHashtag != nil || enable != nil || disable != nil
                || mediaRef != nil || comment != nil else {
                throw ValidationError("nothing to change: pass --title, --status, --add-hashtags, --platform, --media or --comment")
            }
            try await ctx.edit(name) { doc in
                let d = try Draft(name: name, doc: doc)
                if d.isDeleted { throw ModelError.documentDeleted(name.description) }
                if let title { try d.setTitle(title) }
                if let newStatus { try d.setStatus(newStatus) }
                if let addHashtags { try d.addHashtags(addHashtags.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
                if let removeHashtag { try d.removeHashtag(removeHashtag) }
                if let enable { try d.setPlatform(enable, caption: platformCaption) }
                if let disable { try d.removePlatform(disable) }
                if let (kind, asset) = mediaRef { try d.addMedia(asset: asset, kind: kind, alt: alt) }
                if let comment { try d.addComment(author: user, text: comment) }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a draft (marked deleted on every device).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            try await ctx.edit(name) { doc in try Draft(name: name, doc: doc).delete() }
            print("deleted \(name.id)")
        }
    }
}

struct DraftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "draft", abstract: "Edit one draft's caption.", subcommands: [Caption.self])

    struct Caption: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the caption: --append TEXT, --insert-at N --text TEXT, or --replace TEXT.",
            discussion: "Positions count characters as you see them (emoji are one)."
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Option(help: "Text to append.") var append: String?
        @Option(help: "Character position to insert --text at.") var insertAt: Int?
        @Option(help: "Text to insert (with --insert-at).") var text: String?
        @Option(help: "Replace the whole caption.") var replace: String?

        func validate() throws {
            let modes = [append != nil, insertAt != nil, replace != nil].filter { $0 }.count
            guard modes == 1 else { throw ValidationError("pass exactly one of --append, --insert-at, --replace") }
            if insertAt != nil && text == nil { throw ValidationError("--insert-at needs --text") }
        }

        func run() async throws {
            let ctx = try Context(global)
            let name = try ctx.draftName(draft)
            let caption = try await ctx.edit(name) { doc -> String in
                let d = try Draft(name: name, doc: doc)
                if d.isDeleted { throw ModelError.documentDeleted(name.description) }
                if let append { try d.appendCaption(append) }
                if let insertAt, let text { try d.insertCaption(text, atCharacter: insertAt) }
                if let replace { try d.replaceCaption(replace) }
                return d.caption.toString()
            }
            if global.json { return try Output.json(["caption": caption]) }
            print(caption)
        }
    }
}

