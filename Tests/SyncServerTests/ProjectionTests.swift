import Testing
import Foundation
import CRDT
import Logging
import Model
import SyncProtocol
import SyncServer
import TestHarness
import TestBasics

@Suite("Projections")
struct ProjectionTests {
    /// Random edits of drafts and the calendar by three clients, some made
    /// offline and merged later, go through rooms whose commits the projector
    /// follows; once it has caught up, the live rows equal a rebuild from
    /// the stored documents, and the rows say what the documents say.
    @Test("live projections equal a rebuild from the documents (randomized edit histories)", arguments: [1, 2, 3])
    func liveEqualsRebuild(round: Int) async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SeededRandom(seed: seed)
        var logger = Logger(label: "projection-test")
        logger.logLevel = .critical
        let store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        let projector = Projector(store: store, triggers: ProjectionTriggers(jobs: store, wakeup: Wakeup(), logger: logger, now: { epochMillis(Date()) }),
                                  logger: logger)
        let registry = RoomRegistry(store: store, onCommit: { id, seq, _ in projector.committed(documentID: id, seq: seq) })
        let running = Task { try await projector.run() }
        defer { running.cancel() }

        let drafts = try (0..<4).map { try DocumentName(workspace: "w\(round)", kind: .draft, id: "d\($0)") }
        let calendarName = try DocumentName.calendar(workspace: "w\(round)")
        let names = drafts + [calendarName]
        let clients = (0..<3).map { c in names.map { _ in ClientDoc(clientID: 9_000 + c) } }
        // Client 0 creates every draft first, and everyone starts from it.
        for (i, name) in drafts.enumerated() {
            try Draft(name: name, doc: clients[0][i].doc).create(title: "Draft \(i)")
            try Draft(name: name, doc: clients[0][i].doc).setPlatform(.linkedin)
        }
        try ContentCalendar(name: calendarName, doc: clients[0][drafts.count].doc).doc.transact { _ in }
        func send(_ c: Int, _ i: Int) async throws {
            let u = try clients[c][i].take()
            guard !u.isEmpty, u != [0, 0] else { return }
            let result = await registry.room(names[i].description).apply(u, from: ConnectionID(c + 1), userID: "u\(c)", role: .editor)
            guard case .acked = result else { throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "seed \(seed): \(result)"]) }
        }
        func pull(_ c: Int, _ i: Int) async throws {
            try clients[c][i].doc.applyUpdate(try await registry.room(names[i].description).syncStep2(for: clients[c][i].doc.encodeStateVector()))
            _ = try clients[c][i].take()
        }
        for i in names.indices { try await send(0, i) }
        for c in 1..<3 { for i in names.indices { try await pull(c, i) } }

        let future = Date(timeIntervalSince1970: 1_900_000_000)
        for step in 0..<150 {
            let c = Int(random.next() % 3), i = Int(random.next() % UInt64(names.count))
            let doc = clients[c][i].doc
            if i < drafts.count {
                let d = try Draft(name: names[i], doc: doc)
                switch random.next() % 7 {
                case 0: try d.setTitle("T\(step)")
                case 1: try d.setStatus(DraftStatus.allCases[Int(random.next() % UInt64(DraftStatus.allCases.count))])
                case 2: try d.setPlatform(Platform.allCases[Int(random.next() % 6)])
                case 3: if let p = d.value.platforms.keys.first.flatMap(Platform.init(rawValue:)) { try d.removePlatform(p) }
                case 4: _ = try d.requestAI(kind: "caption", prompt: "p\(step)", by: "u\(c)")
                case 5:
                    if let r = d.aiRequests.first {
                        try d.recordAIOutcome(r.id, AIOutcome(status: .ready, result: "s\(step)"))
                    }
                default: if random.next() % 8 == 0 { try d.delete() } else { try d.appendCaption(" w\(step)") }
                }
            } else {
                let cal = try ContentCalendar(name: calendarName, doc: doc)
                let entries = cal.entries
                switch random.next() % 3 {
                case 0:
                    let di = Int(random.next() % UInt64(drafts.count))
                    _ = try? cal.schedule(draft: Draft(name: drafts[di], doc: clients[c][di].doc), platform: .linkedin,
                                      at: future.addingTimeInterval(Double(random.next() % 100_000)), timeZone: "Europe/Berlin")
                case 1: if let e = entries.randomElement(using: &random) { try cal.move(e.id, to: future.addingTimeInterval(Double(step) * 60)) }
                default: if let e = entries.randomElement(using: &random) { try cal.cancel(e.id) }
                }
            }
            // Most edits go out at once; some wait (offline) and go out later with a pull.
            if random.next() % 4 != 0 { try await send(c, i) }
            if random.next() % 5 == 0 { try await send(c, i); try await pull(c, i) }
        }
        for c in 0..<3 { for i in names.indices { try await send(c, i) } }

        // Caught up: every document's rows are of its last commit.
        for name in names {
            let last = try await store.load(documentID: name.description).lastSeq
            try await eventually("seed \(seed): \(name) projected at \(last)") {
                try await store.projection(documentID: name.description)?.version == last
            }
        }
        let live = try await store.projections(workspace: "w\(round)")
        #expect(live.count == names.count, "seed \(seed)")
        _ = try await ProjectionRebuild.run(store: store, workspace: "w\(round)")
        let rebuilt = try await store.projections(workspace: "w\(round)")
        #expect(rebuilt == live, "seed \(seed)")
        // And the rows say what the documents say.
        for (i, name) in drafts.enumerated() {
            let doc = Doc(clientID: 1)
            try doc.applyUpdate(try await registry.room(name.description).syncStep2(for: [0]))
            let d = try Draft(name: name, doc: doc)
            let row = try #require(live.first { $0.documentID == name.description })
            #expect(row.drafts.first?.title == d.title && row.drafts.first?.status == (d.isDeleted ? "deleted" : d.status.rawValue), "seed \(seed), draft \(i)")
            #expect(row.drafts.first?.platforms == d.value.platforms.keys.sorted(), "seed \(seed), draft \(i)")
            #expect(row.aiRequests.map(\.requestID) == (d.isDeleted ? [] : d.aiRequests.map(\.id).sorted()), "seed \(seed), draft \(i)")
        }
        let calDoc = Doc(clientID: 1)
        try calDoc.applyUpdate(try await registry.room(calendarName.description).syncStep2(for: [0]))
        let entries = try ContentCalendar(name: calendarName, doc: calDoc).entries
        let calRow = try #require(live.first { $0.documentID == calendarName.description })
        #expect(calRow.calendarEntries.map(\.entryID) == entries.map(\.id).sorted(), "seed \(seed)")
        for e in entries {
            let row = calRow.calendarEntries.first { $0.entryID == e.id }
            #expect(row?.dueAt == e.date.map(epochMillis) && row?.status == e.status.rawValue, "seed \(seed)")
        }
    }
}
