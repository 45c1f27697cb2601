import ArgumentParser
import Foundation
import SyncProtocol
import SyncServer

/// `nest-server push test|log|devices`: the push relay, from the operator's side.
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Push relay: send a test push, read the delivery log, list a user's devices.",
        subcommands: [Test.self, Log.self, Devices.self, VapidKey.self])

    struct VapidKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vapid-key",
            abstract: "Make a VAPID key for Web Push: writes the private key (PEM) and prints the public key that web apps subscribe with.")
        @Option(help: "Where to write the private key; point NEST_VAPID_KEY_FILE at it.") var out: String

        func run() async throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists; remove it first (subscriptions made with its key stop working)") }
            let key = VAPID.generate()
            guard FileManager.default.createFile(atPath: out, contents: Data(key.pem.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(out)")
            }
            print(key.vapid.publicKeyBase64URL)
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a test push to every device of a user; a running server sends it. Waits for the outcomes.")
        @OptionGroup var store: StoreOptions
        @Option(help: "User id.") var user: String
        @Option(help: "Seconds to wait for the outcomes (0: do not wait).") var wait: Double = 15

        func run() async throws {
            let user = self.user
            let n = PushNotification(event: .test, userID: user, documentID: "", title: "Test from nest-server",
                                     body: "Pushes reach this device.", actor: "")
            let started = epochMillis(Date())
            let id = try await store.withJobStore { s in try await s.enqueue(PushRelay.job(n, uniqueKey: nil), now: started).id }
            print("queued push test as job \(id)")
            guard wait > 0 else { return }
            let deadline = Date().addingTimeInterval(wait)
            while Date() < deadline {
                let (job, log) = try await store.withJobStore { s in
                    (try await s.job(id: id), try await (s as? any PushStore)?.pushDeliveries(userID: user, limit: 100) ?? [])
                }
                if let job, job.state.isFinal {
                    // The deliveries this test fanned out to are jobs of their own; wait for their outcomes too.
                    let outcomes = log.filter { $0.at >= started && $0.event == .test && $0.outcome != "retry" }
                    struct FannedOut: Decodable { var devices: Int }
                    let devices = job.result.flatMap { try? JSONDecoder().decode(FannedOut.self, from: Data($0.utf8)) }?.devices ?? 0
                    if outcomes.count >= devices {
                        if devices == 0 { print("\(user) has no active devices") }
                        for o in outcomes { print("\(o.deviceID) \(o.provider): \(o.outcome) \(o.detail)") }
                        if outcomes.contains(where: { $0.outcome != "delivered" && $0.outcome != "in-band" }) { throw ExitCode(4) }
                        return
                    }
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            print("no outcome within \(wait) s: is a server running with jobs on? (`nest-server jobs show \(id)`)")
            throw ExitCode(3)
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's latest push deliveries, newest first.")
        @OptionGroup var store: StoreOptions
        @Option(help: "User id.") var user: String
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let (user, limit) = (user, max(1, limit))
            let log = try await store.withPushStore { try await $0.pushDeliveries(userID: user, limit: limit) }
            if json { return try printJSON(log) }
            if log.isEmpty { print("no deliveries for \(user)") }
            for d in log {
                let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(d.at) / 1000))
                print("\(when)  \(d.event)  \(d.deviceID.isEmpty ? "-" : d.deviceID) \(d.provider)  \(d.outcome)  \(d.detail)\(d.documentID.isEmpty ? "" : "  \(d.documentID)")")
            }
        }
    }

    struct Devices: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A user's devices, dropped ones included.")
        @OptionGroup var store: StoreOptions
        @Option(help: "User id.") var user: String
        @Flag(help: "JSON output.") var json = false

        func run() async throws {
            let user = self.user
            let devices = try await store.withPushStore { try await $0.devices(userID: user, includeDropped: true) }
            if json { return try printJSON(devices) }
            if devices.isEmpty { print("no devices for \(user)") }
            for d in devices {
                print("\(d.id)  \(d.address.provider)  \(d.droppedAt == nil ? "active" : "dropped: \(d.dropReason ?? "")")")
            }
        }
    }
}

extension StoreOptions {
    func withPushStore<T: Sendable>(_ body: @escaping @Sendable (any PushStore) async throws -> T) async throws -> T {
        try await withStore { store in
            guard let push = store as? any PushStore else { throw ValidationError("this store keeps no devices") }
            return try await body(push)
        }
    }
}
