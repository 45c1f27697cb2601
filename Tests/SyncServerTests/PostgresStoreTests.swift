import Testing
import Foundation
import Logging
import PostgresNIO
import SyncServer
import TestHarness

/// The store suite on a real PostgreSQL server (`scripts/test` starts one and
/// sets NEST_TEST_DATABASE_URL). Each test gets a database of its own.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    static let logger = Logger(label: "pg-tests")

    static func freshDatabase() async throws -> (url: String, config: PostgresClient.Configuration)? { try await TestDatabase.fresh() }

    static func withStore(_ body: @escaping @Sendable (PostgresDocumentStore) async throws -> Void) async throws {
        guard let (_, config) = try await freshDatabase() else { return }
        let client = PostgresClient(configuration: config)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            // The whole suite runs in parallel against one PostgreSQL server on a 2-core machine: a fresh
            // database's migration has waited more than the production default of 10 s there.
            try await body(PostgresDocumentStore(client: client, logger: logger, operationTimeout: .seconds(60)))
            group.cancelAll()
        }
    }

    @Test func appendAndLoad() async throws { try await Self.withStore { try await StoreSuite.appendAndLoad($0) } }
    @Test func compaction() async throws { try await Self.withStore { try await StoreSuite.compaction($0) } }
    @Test func compactionUnderConcurrentAppends() async throws { try await Self.withStore { try await StoreSuite.compactionUnderConcurrentAppends($0) } }
    @Test func catalog() async throws { try await Self.withStore { try await StoreSuite.catalog($0) } }
    @Test func concurrentAppends() async throws { try await Self.withStore { try await StoreSuite.concurrentAppends($0) } }
    @Test func memberships() async throws { try await Self.withStore { try await StoreSuite.memberships($0) } }

    @Test("a wrong URL is a typed configuration error")
    func badURL() {
        #expect(throws: StoreError.self) { _ = try PostgresDocumentStore.configuration(url: "mysql://x") }
    }

    @Test("an unreachable server is a store error, not a crash")
    func unreachable() async throws {
        let client = PostgresClient(configuration: try PostgresDocumentStore.configuration(url: "postgres://nest@127.0.0.1:1/none"))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            let store = PostgresDocumentStore(client: client, logger: Self.logger, operationTimeout: .seconds(2))
            do {
                try await store.migrate()
                Issue.record("migrated on a closed port")
            } catch {
                #expect((error as? StoreError)?.code == .unavailable, "\(error)")
            }
            group.cancelAll()
        }
    }
}
