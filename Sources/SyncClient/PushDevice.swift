public import SyncProtocol
import Foundation

/// The push address this data directory stands for (a phone's APNs token, a
/// Web Push subscription, an ntfy topic): registered with the server on every
/// connect, so that while connected its notifications arrive in-band instead.
public struct PushDeviceState: Sendable, Equatable {
    public var address: DeviceAddress
    /// The server's id for it, once registered.
    public var deviceID: String?
    /// The server's reason, when it refused the address.
    public var refused: String?
}

extension LocalStore {
    /// The configured push device, if any.
    public func pushDevice() throws(ClientError) -> PushDeviceState? {
        guard let provider = try meta("push.provider"), let fieldsJSON = try meta("push.fields"),
              let object = try? JSONSerialization.jsonObject(with: Data(fieldsJSON.utf8)) as? [String: String],
              let address = try? DeviceAddress(provider: provider, fields: object.map { DeviceField($0.key, $0.value) }) else { return nil }
        return PushDeviceState(address: address, deviceID: try meta("push.deviceID"), refused: try meta("push.refused"))
    }

    /// Makes `address` this data directory's push device (nil: none); the next connect registers it.
    public func setPushDevice(_ address: DeviceAddress?) throws(ClientError) {
        guard let address else {
            try setMeta(["push.provider": nil, "push.fields": nil, "push.deviceID": nil, "push.refused": nil])
            return
        }
        let fields = Dictionary(uniqueKeysWithValues: address.fields.map { ($0.name, $0.value) })
        let json = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try setMeta(["push.provider": address.provider, "push.fields": json, "push.deviceID": nil, "push.refused": nil])
    }

    /// Records the server's answer to a registration.
    func recordPushRegistration(deviceID: String?, refused: String?) throws(ClientError) {
        try setMeta(["push.deviceID": deviceID, "push.refused": refused])
    }
}
