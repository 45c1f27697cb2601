import Testing
import Foundation
import Logging
import SyncServer

@Suite("Off-peak window")
struct OffPeakTests {
    static func utc(_ text: String) -> Date { try! Date.ISO8601FormatStyle(timeZone: .gmt).parse(text) }

    @Test("the next start of a window, crossing midnight or not", arguments: [
        ("16:30-00:30", "2026-12-07T12:00:00Z", "2026-12-07T16:30:00Z"),
        ("16:30-00:30", "2026-12-07T16:30:00Z", "2026-12-07T16:30:00Z"),
        ("16:30-00:30", "2026-12-07T23:59:00Z", "2026-12-07T23:59:00Z"),
        ("16:30-00:30", "2026-12-08T00:15:00Z", "2026-12-08T00:15:00Z"),
        ("16:30-00:30", "2026-12-08T00:30:00Z", "2026-12-08T16:30:00Z"),
        ("01:00-05:00", "2026-12-07T06:00:00Z", "2026-12-08T01:00:00Z"),
        ("01:00-05:00", "2026-12-07T00:59:00Z", "2026-12-07T01:00:00Z"),
        ("01:00-05:00", "2026-12-07T04:59:59Z", "2026-12-07T04:59:59Z"),
    ])
    func nextStart(window: String, at: String, expected: String) throws {
        let w = try #require(OffPeakWindow(parsing: window))
        #expect(w.nextStart(onOrAfter: Self.utc(at)) == Self.utc(expected))
    }

    @Test("bad windows are refused", arguments: ["", "16:30", "25:00-01:00", "10:00-10:00", "a-b", "10:61-11:00"])
    func refused(window: String) {
        #expect(OffPeakWindow(parsing: window) == nil)
    }

    @Test("a low-priority request waits for the window; a normal one does not")
    func scheduled() async throws {
        let store = try SQLiteStoreTests.freshStore().0
        try await store.migrate()
        let now = epochMillis(Self.utc("2026-12-07T12:00:00Z"))
        let triggers = ProjectionTriggers(jobs: store, wakeup: Wakeup(), logger: Logger(label: "t"), offPeak: OffPeakWindow(parsing: "16:30-00:30"),
                                          now: { now })
        let p = DocumentProjection(documentID: "w/draft/a", workspace: "w", version: 3, aiRequests: [
            AIRequestRow(documentID: "w/draft/a", requestID: "low1", workspace: "w", kind: "caption", status: "requested", priority: "low"),
            AIRequestRow(documentID: "w/draft/a", requestID: "now1", workspace: "w", kind: "caption", status: "requested"),
        ])
        try await triggers.startJobs(for: p)
        let jobs = try await store.jobs(state: nil, kind: .aiGenerate, limit: 10)
        let low = try #require(jobs.first { $0.arguments.contains("low1") })
        let normal = try #require(jobs.first { $0.arguments.contains("now1") })
        #expect(low.state == .scheduled && low.runAt == epochMillis(Self.utc("2026-12-07T16:30:00Z")))
        #expect(normal.state == .available && normal.runAt == now)
    }
}
