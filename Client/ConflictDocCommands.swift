import ArgumentParser
import CRDT
import Foundation
import Model
import SyncClient

struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Concurrent overwrites kept in the documents' conflict logs.", subcommands: [List.self, Resolve.self])

    /// A conflict with the document it lives in.
    struct Located: Codable {
        var document: String
        var conflict: ConflictRecord
    }

    static func all(_ ctx: Context) throws -> [Located] {
        var out: [Located] = []
        for name in try ctx.store.documentNames() {
            let list = try ctx.store.read(name) { ConflictLog.list($0) }
            out += list.map { Located(document: name, conflict: $0) }
        }
        return out
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List conflicts (open ones; --all for resolved too).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Include resolved conflicts.") var all = false

        func run() async throws {
            let ctx = try Context(global)
            let list = try Conflicts.all(ctx).filter { all || $0.conflict.isOpen }
            if global.json { return try Output.json(list) }
            if list.isEmpty { return print("no \(all ? "" : "open ")conflicts") }
            Output.table(["ID", "DOCUMENT", "FIELD", "KEPT", "BY", "LOST", "BY", "STATUS"], list.map { l in
                let c = l.conflict
                return [c.id, l.document, "\(c.path).\(c.key)", c.winner, c.winnerUser ?? "client \(c.winnerClient)", c.loser,
                        c.loserUser ?? "client \(c.loserClient)", c.isOpen ? "open" : "resolved: \(c.chosen ?? "")"]
            }, maxWidth: 40)
            print("resolve with `nest conflicts resolve ID --keep kept|lost` or `--value JSON`")
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Choose a value; the choice syncs like any edit.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Conflict id.") var id: String
        @Option(help: "kept (the value shown now) or lost (the overwritten one).") var keep: String?
        @Option(help: "Another value, as JSON (e.g. '\"New title\"').") var value: String?

        func run() async throws {
            let choice: ConflictChoice
            switch (keep, value) {
            case ("kept"?, nil), ("winner"?, nil): choice = .winner
            case ("lost"?, nil), ("loser"?, nil): choice = .loser
            case (nil, let v?): choice = .value(v)
            default: throw ValidationError("pass --keep kept, --keep lost, or --value JSON")
            }
            let ctx = try Context(global)
            let user = try ctx.profile().user
            guard let found = try Conflicts.all(ctx).first(where: { $0.conflict.id == id || $0.conflict.id.hasPrefix(id) }) else {
                throw ModelError.unknownConflict(id)
            }
            let name = try DocumentName(parsing: found.document)
            try await ctx.edit(name) { doc in try ConflictLog.resolve(found.conflict.id, choice: choice, by: user, in: doc) }
            print("resolved \(found.conflict.id) in \(found.document)")
        }
    }
}

struct DocCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doc", abstract: "Any local document, raw.", subcommands: [Inspect.self, Export.self, List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List local documents.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ctx = try Context(global)
            let names = try ctx.store.documentNames()
            if global.json { return try Output.json(names) }
            names.forEach { print($0) }
        }
    }

    /// What `nest doc inspect` shows.
    struct Inspection: Codable {
        var document: String
        var bytes: Int
        var stateVector: [String: Int]
        var roots: [String]
        var schema: Int
        var pendingEdits: Int
        var serverSeq: Int
        var unfoldedUpdates: Int
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sizes, state vector, roots and sync state of a document.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Full document name (<workspace>/<kind>/<id>).") var name: String

        func run() async throws {
            let ctx = try Context(global)
            let doc = try ctx.store.read(name) { $0 }
            let state = try doc.encodeStateAsUpdate()
            let info = Inspection(
                document: name, bytes: state.count,
                stateVector: Dictionary(uniqueKeysWithValues: doc.stateVector.map { (String($0.key), $0.value) }), roots: doc.rootNames,
                schema: ModelSchema.version(of: doc), pendingEdits: try ctx.store.pending(document: name).count,
                serverSeq: try ctx.store.serverSeq(name), unfoldedUpdates: try ctx.store.updateRowCount(name)
            )
            if global.json { return try Output.json(info) }
            print("document:   \(info.document)")
            print("state:      \(info.bytes) bytes (Yjs update v1), schema \(info.schema)")
            print("clients:    \(info.stateVector.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))")
            print("roots:      \(info.roots.joined(separator: ", "))")
            print("sync:       server seq \(info.serverSeq), \(info.pendingEdits) pending edits, \(info.unfoldedUpdates) updates since the snapshot")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export a document as JSON (default) or as a Yjs update (--binary FILE).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Full document name.") var name: String
        @Option(help: "Write the Yjs v1 state update to this file instead.") var binary: String?

        func run() async throws {
            let ctx = try Context(global)
            let doc = try ctx.store.read(name) { $0 }
            if let binary {
                let state = try doc.encodeStateAsUpdate()
                try Data(state).write(to: URL(fileURLWithPath: binary))
                return print("wrote \(state.count) bytes to \(binary)")
            }
            var pairs: [(String, YAny)] = []
            for root in doc.rootNames { pairs.append((root, Self.json(of: doc, root: root))) }
            print(JSONText.stringify(.object(pairs)))
        }

        /// Roots of known shapes are read with their type; others as maps.
        static func json(of doc: Doc, root: String) -> YAny {
            switch root {
            case "caption", "voice": return .string(doc.getText(root).toString())
            case "hashtags", "media", "comments", "fonts", "logos", "bannedWords", "defaultHashtags": return doc.getArray(root).toJSON()
            default: return doc.getMap(root).toJSON()
            }
        }
    }
}
