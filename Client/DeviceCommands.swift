import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncClient
import SyncProtocol

/// `nest devices register|list|remove`: where this user's pushes go.
struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push devices: register this data directory's push address, list yours, remove one.",
        subcommands: [Register.self, List.self, Remove.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a push address this device's; it is registered on every connect (PROTOCOL.md 4.6).",
            discussion: """
                Fields per provider: apns token=HEX topic=BUNDLE_ID [environment=sandbox]; fcm token=TOKEN; \
                webpush endpoint=URL p256dh=KEY auth=SECRET; ntfy url=TOPIC_URL [auth=TOKEN or user:password].
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "apns, fcm, webpush or ntfy.") var provider: String
        @Option(name: .customLong("field"), help: "A field as name=value (repeat).") var fields: [String] = []

        func run() async throws {
            let ctx = try Context(global)
            var parsed: [DeviceField] = []
            for f in fields {
                guard let eq = f.firstIndex(of: "=") else { throw ValidationError("--field \(f): write name=value") }
                parsed.append(DeviceField(String(f[..<eq]), String(f[f.index(after: eq)...])))
            }
            let address: DeviceAddress
            do { address = try DeviceAddress(provider: provider, fields: parsed) } catch { throw ValidationError(error.description) }
            try ctx.store.setPushDevice(address)
            if global.offline {
                print("saved; the next sync registers it")
                return
            }
            _ = try await SyncEngine(store: ctx.store).run(SyncOptions(mode: .once, timeout: 30, attempts: 2))
            guard let state = try ctx.store.pushDevice() else { return }
            if let refused = state.refused {
                Output.note("the server refused the device: \(refused)")
                throw ExitCode(4)
            }
            guard let id = state.deviceID else {
                Output.note("not registered yet (the server did not answer); the next sync tries again")
                throw ExitCode(3)
            }
            if global.json { return try Output.json(["device": id, "provider": address.provider]) }
            print("registered \(address.provider) device \(id); while `nest watch` runs, notifications show there instead of as pushes")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Your devices on the server, with dropped ones and why.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ctx = try Context(global)
            let data = try await ServerAPI(try ctx.profile()).call("GET", "/v1/devices")
            if global.json { return print(String(decoding: data, as: UTF8.self)) }
            guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { throw ValidationError("the server answered something else than a list") }
            let mine = try ctx.store.pushDevice()?.deviceID
            if list.isEmpty { print("no devices") }
            Output.table(["id", "provider", "address", "state"], list.map { d in
                let id = d["id"] as? String ?? ""
                let fields = d["fields"] as? [String: String] ?? [:]
                let where_ = fields["endpoint"] ?? fields["url"] ?? fields["token"] ?? ""
                let state = (d["dropReason"] as? String).map { "dropped: \($0)" } ?? "active"
                return [id + (id == mine ? " (this)" : ""), d["provider"] as? String ?? "", where_, state]
            })
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop pushes to a device.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Device id (from `nest devices list`).") var id: String

        func run() async throws {
            let ctx = try Context(global)
            _ = try await ServerAPI(try ctx.profile()).call("DELETE", "/v1/devices/\(id)")
            if try ctx.store.pushDevice()?.deviceID == id { try ctx.store.setPushDevice(nil) }
            print("removed \(id)")
        }
    }
}

/// `nest push prefs`: which events push, and quiet hours.
struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push preferences.", subcommands: [Prefs.self])

    struct Prefs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set which events push and your quiet hours.",
            discussion: "Events: ai.ready, ai.failed, publish.done, publish.failed, conflict, mention, edits, background.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Comma-separated events that push (others are muted).") var events: String?
        @Option(help: "Quiet hours in your time zone, e.g. 22:00-07:00: alerts wait for their end.") var quietHours: String?
        @Option(help: "Your IANA time zone, e.g. Europe/Berlin (default: this machine's).") var timeZone: String?
        @Flag(help: "No quiet hours.") var noQuietHours = false

        func run() async throws {
            let ctx = try Context(global)
            let api = ServerAPI(try ctx.profile())
            var current = try JSONSerialization.jsonObject(with: try await api.call("GET", "/v1/push/preferences")) as? [String: Any] ?? [:]
            if events != nil || quietHours != nil || noQuietHours {
                if let events { current["events"] = events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                if let quietHours {
                    current["quietHours"] = quietHours
                    current["timeZone"] = timeZone ?? TimeZone.current.identifier
                }
                if noQuietHours { current["quietHours"] = nil; current["timeZone"] = nil }
                current = try JSONSerialization.jsonObject(
                    with: try await api.call("PUT", "/v1/push/preferences", body: try JSONSerialization.data(withJSONObject: current))) as? [String: Any] ?? [:]
            }
            if global.json { return print(String(decoding: try JSONSerialization.data(withJSONObject: current, options: [.sortedKeys]), as: UTF8.self)) }
            print("events: \((current["events"] as? [String] ?? []).joined(separator: ", "))")
            print("quiet hours: \((current["quietHours"] as? String).map { "\($0) \(current["timeZone"] as? String ?? "")" } ?? "none")")
        }
    }
}

/// The server's REST endpoints, with the profile's token.
struct ServerAPI {
    let profile: Profile

    init(_ profile: Profile) { self.profile = profile }

    /// The response body of a 2xx answer; anything else throws with the server's message.
    func call(_ method: String, _ path: String, body: Data? = nil) async throws -> Data {
        var base = profile.server
        if base.hasPrefix("ws://") { base = "http://" + base.dropFirst(5) }
        if base.hasPrefix("wss://") { base = "https://" + base.dropFirst(6) }
        if !base.hasPrefix("http") { base = "http://" + base }
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + path) else { throw ValidationError("bad server URL \(profile.server)") }
        var request = URLRequest(url: url, timeoutInterval: 15)
        request.httpMethod = method
        request.setValue("Bearer \(profile.token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response): (Data, URLResponse)
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw ValidationError("cannot reach \(base): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: String])?["message"] ?? String(decoding: data, as: UTF8.self)
            throw ValidationError("the server answered \(status): \(message)")
        }
        return data
    }
}
