// swift-tools-version: 6.0
import PackageDescription

/// Strict settings shared by every target: Swift 6 language mode plus the
/// upcoming features the Swift server ecosystem has adopted.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "nest-sync",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CRDT", targets: ["CRDT"]),
        .library(name: "SyncProtocol", targets: ["SyncProtocol"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "SyncClient", targets: ["SyncClient"]),
        .executable(name: "nest-server", targets: ["NestServer"]),
        .executable(name: "nest", targets: ["NestClient"]),
        .executable(name: "nest-bench", targets: ["NestBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        .target(name: "CRDT", path: "Sources/CRDT", swiftSettings: strictSettings, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "SyncProtocol", dependencies: ["CRDT"], path: "Sources/SyncProtocol", swiftSettings: strictSettings),
        .target(
            name: "SyncServer",
            dependencies: [
                "CRDT", "SyncProtocol", "Model", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"), .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/SyncServer", swiftSettings: strictSettings
        ),
        .target(name: "Model", dependencies: ["CRDT"], path: "Sources/Model", swiftSettings: strictSettings),
        .target(
            name: "SyncClient",
            dependencies: [
                "CRDT", "SyncProtocol", "Model", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/SyncClient", swiftSettings: strictSettings
        ),
        .target(name: "ScenarioKit", dependencies: ["CRDT"], path: "Sources/ScenarioKit", swiftSettings: strictSettings),
        .target(name: "CHeapInfo", path: "Benchmarks/CHeapInfo"),
        .executableTarget(
            name: "NestServer",
            dependencies: ["CRDT", "SyncServer", "SyncProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Server", swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "NestClient",
            dependencies: [
                "CRDT", "Model", "SyncClient", "SyncProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Client", swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "NestBench",
            dependencies: [
                "CRDT", "ScenarioKit", "CHeapInfo", "Model", "SyncClient", "SyncProtocol", "SyncServer", "TestHarness",
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/NestBench",
            swiftSettings: strictSettings
        ),
        // Test support in two layers: processes, seeds and waiting (no dependencies), and the local
        // stand-ins for outside services; neither links the server, so CRDT and client tests do not.
        .target(name: "TestBasics", path: "Tests/TestBasics", swiftSettings: strictSettings),
        .target(
            name: "TestHarness",
            dependencies: [
                "TestBasics", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Tests/TestHarness", swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClientTests",
            dependencies: ["Model", "SyncClient", "SyncProtocol", "CRDT", "TestBasics", "TestHarness"],
            path: "Tests/ClientTests", swiftSettings: strictSettings
        ),
        .testTarget(name: "CRDTTests", dependencies: ["CRDT", "ScenarioKit", "TestBasics"], path: "Tests/CRDTTests", swiftSettings: strictSettings),
        .testTarget(
            name: "SyncServerTests",
            dependencies: [
                "SyncServer", "SyncProtocol", "CRDT", "TestBasics", "TestHarness", .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/SyncServerTests", swiftSettings: strictSettings
        ),
        .testTarget(name: "SyncProtocolTests", dependencies: ["SyncProtocol", "CRDT"], path: "Tests/SyncProtocolTests", swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
