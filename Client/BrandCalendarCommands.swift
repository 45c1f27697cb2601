import ArgumentParser
import CRDT
import Foundation
import Model
import SyncClient

struct Brand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The workspace's brand kit.", subcommands: [Show.self, SetColor.self, AddFont.self, SetVoice.self, SetName.self]
    )

    static func name(_ ctx: Context) throws -> DocumentName { try DocumentName.brandKit(workspace: try ctx.workspace()) }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the brand kit.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ctx = try Context(global)
            let name = try Brand.name(ctx)
            guard try ctx.store.hasDocument(name.description) else {
                if global.json { return print("null") }
                return print("no brand kit yet — set a colour with `nest brand set-color primary '#FF5A5F'`")
            }
            let v = try ctx.store.read(name.description) { try BrandKit(name: name, doc: $0).value }
            if global.json { return try Output.json(v) }
            print("brand kit \(v.title.isEmpty ? "(unnamed)" : v.title)")
            for c in v.colors { print("colour:  \(c.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(c.hex)") }
            for f in v.fonts { print("font:    \(f.family)\(f.role.isEmpty ? "" : " (\(f.role))")") }
            if !v.voice.isEmpty { print("voice:   \(v.voice)") }
            if !v.bannedWords.isEmpty { print("banned:  \(v.bannedWords.joined(separator: ", "))") }
            if !v.defaultHashtags.isEmpty { print("tags:    \(v.defaultHashtags.map { "#\($0)" }.joined(separator: " "))") }
            if v.openConflicts > 0 { print("conflicts: \(v.openConflicts) open — `nest conflicts list`") }
            print("sync:    \(try Output.syncState(of: name.description, in: ctx.store))")
        }
    }

    struct SetColor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a named colour, e.g. `nest brand set-color primary '#FF5A5F'`.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Colour name.") var colorName: String
        @Argument(help: "#RRGGBB or #RGB.") var hex: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try Brand.name(ctx)
            let clean = try BrandKit.validHex(hex)
            try await ctx.edit(name) { doc in try BrandKit(name: name, doc: doc).setColor(name: colorName, hex: clean) }
            print("\(colorName) = \(clean)")
        }
    }

    struct AddFont: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a font family.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Font family.") var family: String
        @Option(help: "What it is for (heading, body, ...).") var role: String = ""

        func run() async throws {
            let ctx = try Context(global)
            let name = try Brand.name(ctx)
            try await ctx.edit(name) { doc in try BrandKit(name: name, doc: doc).addFont(family: family, role: role) }
        }
    }

    struct SetVoice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the brand voice text.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "How the brand speaks.") var text: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try Brand.name(ctx)
            try await ctx.edit(name) { doc in try BrandKit(name: name, doc: doc).setVoice(text) }
        }
    }

    struct SetName: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Name the brand kit.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Name.") var title: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try Brand.name(ctx)
            try await ctx.edit(name) { doc in try BrandKit(name: name, doc: doc).setTitle(title) }
        }
    }
}

struct CalendarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calendar", abstract: "The workspace's content calendar.",
        subcommands: [Show.self, Schedule.self, Move.self, Cancel.self]
    )

    static func name(_ ctx: Context) throws -> DocumentName { try DocumentName.calendar(workspace: try ctx.workspace()) }

    /// Parses an ISO 8601 time; without an offset it is read in `timeZone`.
    static func parseTime(_ text: String, timeZone: String) throws -> Date {
        if let d = try? Date.ISO8601FormatStyle().parse(text) { return d }
        guard let tz = TimeZone(identifier: timeZone) else { throw ModelError.unknownTimeZone(timeZone) }
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = tz
            f.dateFormat = format
            if let d = f.date(from: text) { return d }
        }
        throw ValidationError("cannot read the time \"\(text)\": use 2026-12-01T09:30 (in --tz) or 2026-12-01T08:30:00Z")
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show scheduled posts.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Include cancelled entries.") var all = false

        func run() async throws {
            let ctx = try Context(global)
            let name = try CalendarCommand.name(ctx)
            let entries = try ctx.store.hasDocument(name.description)
                ? try ctx.store.read(name.description) { try ContentCalendar(name: name, doc: $0).entries } : []
            let shown = entries.filter { all || $0.status != .cancelled }
            if global.json { return try Output.json(shown) }
            if shown.isEmpty { return print("nothing scheduled — `nest calendar schedule DRAFT --platform instagram --at 2026-12-01T09:30 --tz Europe/Berlin`") }
            Output.table(["ENTRY", "WHEN (UTC)", "LOCAL", "PLATFORM", "DRAFT", "STATUS"], shown.map { e in
                let draftID = (try? DocumentName(parsing: e.draft).id) ?? e.draft
                return [e.id, e.scheduledAt, e.localTime, e.platform.rawValue, draftID, e.status.rawValue + (e.date.map { " (\(Output.relative($0)))" } ?? "")]
            })
            print("sync: \(try Output.syncState(of: name.description, in: ctx.store))")
        }
    }

    struct Schedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Schedule a draft on a platform.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Draft id.") var draft: String
        @Option(help: "Platform.") var platform: String
        @Option(help: "When: 2026-12-01T09:30 (read in --tz) or with an offset.") var at: String
        @Option(help: "IANA time zone for display and for --at without offset.") var tz: String = TimeZone.current.identifier

        func run() async throws {
            let ctx = try Context(global)
            let draftName = try ctx.draftName(draft)
            let p = try Platform(name: platform)
            let when = try CalendarCommand.parseTime(at, timeZone: tz)
            let draftDoc = try ctx.store.load(draftName.description)
            let d = try Draft(name: draftName, doc: draftDoc)
            let name = try CalendarCommand.name(ctx)
            let id = try await ctx.edit(name) { doc in
                try ContentCalendar(name: name, doc: doc).schedule(draft: d, platform: p, at: when, timeZone: tz)
            }
            if global.json { return try Output.json(["entry": id]) }
            print("scheduled \(draftName.id) on \(p.rawValue) at \(when.formatted(.iso8601)) as entry \(id)")
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move an entry to another time.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Entry id.") var entry: String
        @Option(help: "New time.") var at: String
        @Option(help: "IANA time zone.") var tz: String?

        func run() async throws {
            let ctx = try Context(global)
            let name = try CalendarCommand.name(ctx)
            try await ctx.edit(name) { doc in
                let cal = try ContentCalendar(name: name, doc: doc)
                guard let e = cal.entry(entry) else { throw ModelError.unknownEntry(entry) }
                let zone = tz ?? e.timezone
                try cal.move(entry, to: try CalendarCommand.parseTime(at, timeZone: zone), timeZone: zone)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel an entry.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Entry id.") var entry: String

        func run() async throws {
            let ctx = try Context(global)
            let name = try CalendarCommand.name(ctx)
            try await ctx.edit(name) { doc in try ContentCalendar(name: name, doc: doc).cancel(entry) }
        }
    }
}
