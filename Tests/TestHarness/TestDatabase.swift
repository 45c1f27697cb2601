import Foundation
public import PostgresNIO

/// Databases on the throwaway PostgreSQL server `scripts/test` starts (it
/// sets NEST_TEST_DATABASE_URL). Each caller gets an empty database.
public enum TestDatabase {
    /// Thrown (so the test fails, never skips) when no server is configured.
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String { "NEST_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL" }
    }

    /// Creates an empty database; returns its URL and configuration.
    public static func fresh() async throws -> (url: String, config: PostgresClient.Configuration)? {
        guard let url = ProcessInfo.processInfo.environment["NEST_TEST_DATABASE_URL"] else { throw NotConfigured() }
        guard let u = URLComponents(string: url), let host = u.host else { throw NotConfigured() }
        let base = PostgresClient.Configuration(host: host, port: u.port ?? 5432, username: u.user ?? "postgres", password: u.password,
                                                database: String(u.path.dropFirst()), tls: .disable)
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = PostgresClient(configuration: base)
        let logger = Logger(label: "test-database")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await admin.run() }
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
            group.cancelAll()
        }
        var config = base
        config.database = name
        guard var parts = URLComponents(string: url) else { return nil }
        parts.path = "/" + name
        return (parts.string ?? url, config)
    }
}
