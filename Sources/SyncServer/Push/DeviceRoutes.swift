import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat
import SyncProtocol

/// `POST/GET/DELETE /v1/devices` and `GET/PUT /v1/push/preferences`, with
/// the same JWT as the sync endpoints (`Authorization: Bearer`). Errors are
/// JSON `{"error": code, "message": text}` with the protocol's code names.
enum DeviceRoutes {
    struct Registration: Decodable {
        var provider: String
        var fields: [String: String]
    }

    struct DeviceJSON: Encodable {
        var id: String
        var provider: String
        var fields: [String: String]
        var registeredAt: Int64
        var droppedAt: Int64?
        var dropReason: String?

        init(_ d: RegisteredDevice) {
            id = d.id
            provider = d.address.provider
            // Credentials of the device's own (an ntfy token) are never echoed.
            fields = Dictionary(uniqueKeysWithValues: d.address.fields.filter { $0.name != "auth" || d.address.provider == "webpush" }.map { ($0.name, $0.value) })
            registeredAt = d.registeredAt
            droppedAt = d.droppedAt
            dropReason = d.dropReason
        }
    }

    struct PreferencesJSON: Codable {
        var events: [String]
        /// `22:00-07:00`, or absent.
        var quietHours: String?
        var timeZone: String?
    }

    static func add(to router: Router<BasicRequestContext>, store: any PushStore, verifier: TokenVerifier) {
        router.post("/v1/devices") { request, _ -> Response in
            let user: String
            switch await authenticate(request, verifier) { case .user(let u): user = u; case .refused(let r): return r }
            guard let body = try? await request.body.collect(upTo: 16 << 10),
                  let reg = try? JSONDecoder().decode(Registration.self, from: Data(buffer: body)) else {
                return error(.badRequest, .badMessage, #"the body must be JSON: {"provider": "...", "fields": {"name": "value"}}"#)
            }
            let address: DeviceAddress
            do { address = try DeviceAddress(provider: reg.provider, fields: reg.fields.map { DeviceField($0.key, $0.value) }) } catch {
                return Self.error(.unprocessableContent, .invalidDevice, "\(error)")
            }
            do {
                let device = try await store.registerDevice(userID: user, address: address, now: epochMillis(Date()))
                return json(.created, DeviceJSON(device))
            } catch {
                return Self.error(.serviceUnavailable, .storeUnavailable, "store unavailable")
            }
        }
        router.get("/v1/devices") { request, _ -> Response in
            let user: String
            switch await authenticate(request, verifier) { case .user(let u): user = u; case .refused(let r): return r }
            do { return json(.ok, try await store.devices(userID: user, includeDropped: true).map(DeviceJSON.init)) } catch {
                return Self.error(.serviceUnavailable, .storeUnavailable, "store unavailable")
            }
        }
        router.delete("/v1/devices/:id") { request, context -> Response in
            let user: String
            switch await authenticate(request, verifier) { case .user(let u): user = u; case .refused(let r): return r }
            let id = context.parameters.get("id") ?? ""
            do {
                guard try await store.removeDevice(id: id, userID: user) else { return Self.error(.notFound, .unknownDocument, "no device \(id) of yours") }
                return Response(status: .noContent)
            } catch {
                return Self.error(.serviceUnavailable, .storeUnavailable, "store unavailable")
            }
        }
        router.get("/v1/push/preferences") { request, _ -> Response in
            let user: String
            switch await authenticate(request, verifier) { case .user(let u): user = u; case .refused(let r): return r }
            do { return json(.ok, preferencesJSON(try await store.pushPreferences(userID: user))) } catch {
                return Self.error(.serviceUnavailable, .storeUnavailable, "store unavailable")
            }
        }
        router.put("/v1/push/preferences") { request, _ -> Response in
            let user: String
            switch await authenticate(request, verifier) { case .user(let u): user = u; case .refused(let r): return r }
            guard let body = try? await request.body.collect(upTo: 16 << 10),
                  let p = try? JSONDecoder().decode(PreferencesJSON.self, from: Data(buffer: body)) else {
                return error(.badRequest, .badMessage, #"the body must be JSON: {"events": [...], "quietHours": "22:00-07:00", "timeZone": "Europe/Berlin"}"#)
            }
            let prefs: PushPreferences
            switch preferences(from: p) { case .success(let v): prefs = v; case .failure(let e): return error(.unprocessableContent, .badMessage, e.description) }
            do {
                try await store.setPushPreferences(userID: user, prefs)
                return json(.ok, preferencesJSON(prefs))
            } catch {
                return Self.error(.serviceUnavailable, .storeUnavailable, "store unavailable")
            }
        }
    }

    static func preferencesJSON(_ p: PushPreferences) -> PreferencesJSON {
        PreferencesJSON(events: p.events.map(\.rawValue).sorted(), quietHours: p.quietHours?.range, timeZone: p.quietHours?.timeZone)
    }

    /// Checks event names and the quiet hours' range and zone.
    struct PreferencesError: Error, CustomStringConvertible {
        var description: String
    }

    static func preferences(from p: PreferencesJSON) -> Result<PushPreferences, PreferencesError> {
        let known = Set(PushEvent.all.map(\.rawValue))
        if let bad = p.events.first(where: { !known.contains($0) }) {
            return .failure(PreferencesError(description: "unknown event \(bad) (one of: \(known.sorted().joined(separator: ", ")))"))
        }
        var quiet: QuietHours?
        if let range = p.quietHours {
            guard let q = QuietHours(range: range, timeZone: p.timeZone ?? "UTC") else {
                return .failure(PreferencesError(description: "quietHours must look like 22:00-07:00 and timeZone be an IANA zone such as Europe/Berlin"))
            }
            quiet = q
        }
        return .success(PushPreferences(events: Set(p.events.map(PushEvent.init(rawValue:))), quietHours: quiet))
    }

    enum Caller {
        case user(String)
        case refused(Response)
    }

    private static func authenticate(_ request: Request, _ verifier: TokenVerifier) async -> Caller {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : nil
        switch await verifier.identity(of: token) {
        case .success(let identity): return .user(identity.user)
        case .failure(let problem):
            return .refused(error(.unauthorized, problem == .expired ? .tokenExpired : .unauthenticated, "token \(problem)"))
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        let data = (try? e.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func error(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> Response {
        json(status, ["error": code.name, "message": message])
    }
}
