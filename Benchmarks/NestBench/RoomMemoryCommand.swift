import Foundation
import CRDT
import SyncServer
import SyncProtocol

/// `nest-bench rooms PATH.json.gz [--rooms N] [--edits M] [--json]`: what an
/// open document costs the server. Each room gets the trace's document as it
/// stood `M` transactions before the end (one stored update), then the last
/// `M` transactions one update at a time, as live editors send them, through
/// the real room and an SQLite store; a joiner then asks for the full state.
/// Heap growth per room is divided by the final document's encoded size. The
/// same content held as an integrated `Doc` (what a room kept before, and
/// what the y-websocket server keeps as a `Y.Doc`) is measured in the same run.
enum RoomMemoryCommand {
    struct Options {
        var path: String?
        var rooms = 8
        var edits = 2_000
        var json = false
    }

    static func run(_ argv: [String]) async -> Int32 {
        var o = Options()
        var i = 0
        while i < argv.count {
            let a = argv[i]
            func value() -> Int? { i + 1 < argv.count ? Int(argv[i + 1]).flatMap { $0 > 0 ? $0 : nil } : nil }
            switch a {
            case "--json": o.json = true
            case "--rooms", "--edits":
                guard let n = value() else { return usage("\(a) needs a positive number") }
                if a == "--rooms" { o.rooms = n } else { o.edits = n }
                i += 1
            default:
                if a.hasPrefix("-") || o.path != nil { return usage("unexpected argument \(a)") }
                o.path = a
            }
            i += 1
        }
        guard let path = o.path else { return usage("missing trace path") }
        do {
            try await measure(try EditingTrace.load(path: path), o)
            return 0
        } catch {
            FileHandle.standardError.write(Data("nest-bench rooms: \(error)\n".utf8))
            return 1
        }
    }

    static func measure(_ trace: EditingTrace, _ o: Options) async throws {
        // The base state and the live edits after it.
        let author = Doc(clientID: 2_654_435_769)
        var edits: [[UInt8]] = []
        author.onUpdate { u, _ in edits.append(u) }
        let split = max(0, trace.txns.count - o.edits)
        var base: [UInt8] = []
        try TraceCommand.replay(trace, into: author) { n in
            if n == split {
                base = author.encodeStateAsUpdate(since: [:])
                edits = []
            }
        }
        let encodedSize = author.encodeStateAsUpdate(since: [:]).count
        let editBytes = edits.reduce(0) { $0 + $1.count }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nest-bench-rooms-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteDocumentStore(path: dir.appendingPathComponent("rooms.sqlite").path)
        try await store.migrate()

        /// Opens `count` rooms with the base and the edits (kept alive by the caller).
        func open(_ prefix: String, _ count: Int) async throws -> [DocumentRoom] {
            var rooms: [DocumentRoom] = []
            for r in 0..<count {
                let room = DocumentRoom(documentID: "w1/draft/\(prefix)\(r)", store: store)
                for u in [base] + edits {
                    guard case .acked = await room.apply(u, from: 1, userID: "bench", role: .editor) else {
                        throw BenchError("room \(prefix)\(r) refused an update")
                    }
                }
                rooms.append(room)
            }
            return rooms
        }
        /// A joiner of each room, which must get the whole document.
        func join(_ rooms: [DocumentRoom]) async throws {
            for (r, room) in rooms.enumerated() {
                let joiner = Doc(clientID: 7)
                try joiner.applyUpdate(try await room.syncStep2(for: [0]))
                guard joiner.getText("text").toString() == trace.endContent else { throw BenchError("room \(r) lost content") }
            }
        }
        // Warm-up rooms fill SQLite's page cache and the allocator's pools, so
        // that the measured growth is the rooms' own.
        let warm = try await open("warm", o.rooms)
        try await join(warm)
        let before = Memory.heapInUse()
        let rooms = try await open("room", o.rooms)
        let editedHeap = (Memory.heapInUse() - before) / o.rooms
        try await join(rooms)
        let roomHeap = (Memory.heapInUse() - before) / o.rooms
        var estimate = 0
        for room in rooms { estimate += await room.residentBytes }
        estimate /= o.rooms
        withExtendedLifetime(warm) {}

        let docsBefore = Memory.heapInUse()
        var docs: [Doc] = []
        for _ in 0..<o.rooms {
            let d = Doc()
            try d.applyUpdate(base)
            for u in edits { try d.applyUpdate(u) }
            docs.append(d)
        }
        let docHeap = (Memory.heapInUse() - docsBefore) / o.rooms
        withExtendedLifetime(docs) {}
        withExtendedLifetime(rooms) {}

        let roomRatio = Double(roomHeap) / Double(encodedSize)
        let editedRatio = Double(editedHeap) / Double(encodedSize)
        let docRatio = Double(docHeap) / Double(encodedSize)
        if o.json {
            let obj: YAny = .object([
                ("rooms", .number(Double(o.rooms))), ("edits", .number(Double(edits.count))), ("edit_bytes", .number(Double(editBytes))),
                ("encoded_bytes", .number(Double(encodedSize))), ("room_heap_bytes", .number(Double(roomHeap))),
                ("room_estimate_bytes", .number(Double(estimate))), ("room_ratio", .number(roomRatio)),
                ("edited_room_heap_bytes", .number(Double(editedHeap))), ("edited_room_ratio", .number(editedRatio)),
                ("doc_heap_bytes", .number(Double(docHeap))), ("doc_ratio", .number(docRatio)),
            ])
            print(JSONText.stringify(obj))
        } else {
            print("document: \(encodedSize) bytes encoded; each room got it as \(base.count) bytes, then \(edits.count) live updates (\(editBytes) bytes), then a joiner")
            print(String(format: "room after the live updates, before anyone joins: %d bytes of heap per open document = %.2f× its encoded size",
                         editedHeap, editedRatio))
            print(String(format: "room after a joiner (updates merged into one): %d bytes of heap per open document = %.2f× its encoded size (the room's own estimate: %d bytes)",
                         roomHeap, roomRatio, estimate))
            print(String(format: "same content as an integrated Doc: %d bytes = %.2f× (ratio room/Doc %.2f)",
                         docHeap, docRatio, Double(roomHeap) / Double(max(docHeap, 1))))
        }
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("nest-bench: \(message)\nusage: nest-bench rooms PATH.json.gz [--rooms N] [--edits M] [--json]\n".utf8))
        return 2
    }
}
