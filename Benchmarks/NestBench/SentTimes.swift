import Synchronization

/// When each writer of a load sent each of its updates, found again from the
/// update's first bytes: the Yjs client id and clock of its first struct.
///
/// A receiver of a fan-out load learns an update's latency without
/// integrating it into a document. Integrating (and a string-keyed shared
/// table) took a third of the load generator's CPU in a 50 x 50 run, CPU that
/// the server under test then competed with on the same two cores; both
/// servers are measured with the same generator, so the ratios stay fair.
final class SentTimes: Sendable {
    final class Writer: Sendable {
        let byClock = Mutex<[UInt64: ContinuousClock.Instant]>([:])
    }

    /// The Yjs client id of writer 0; writer `w` writes as `firstClientID + w`.
    let firstClientID: UInt64
    private let writers: [Writer]

    init(firstClientID: UInt64, writers: Int) {
        self.firstClientID = firstClientID
        self.writers = (0..<writers).map { _ in Writer() }
    }

    /// Notes that `update` (made by one of the writers) is sent now.
    func record(_ update: [UInt8], at time: ContinuousClock.Instant = .now) {
        guard let (client, clock) = Self.firstStruct(of: update), let w = writer(client) else { return }
        w.byClock.withLock { $0[clock] = time }
    }

    /// The writer of a received update and when it was sent, if one of the writers sent it.
    func sent(_ update: [UInt8]) -> (writer: Int, at: ContinuousClock.Instant)? {
        guard let (client, clock) = Self.firstStruct(of: update), let w = writer(client),
              let at = w.byClock.withLock({ $0[clock] }) else { return nil }
        return (Int(client - firstClientID), at)
    }

    private func writer(_ client: UInt64) -> Writer? {
        guard client >= firstClientID, client - firstClientID < UInt64(writers.count) else { return nil }
        return writers[Int(client - firstClientID)]
    }

    /// Client id and first clock of the first client section of a v1 update
    /// (`varUint(numClients) . varUint(numStructs) . varUint(client) . varUint(clock)`).
    static func firstStruct(of update: [UInt8]) -> (client: UInt64, clock: UInt64)? {
        var i = 0
        func varUInt() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while i < update.count, shift < 64 {
                let b = update[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        guard let clients = varUInt(), clients > 0, let structs = varUInt(), structs > 0,
              let client = varUInt(), let clock = varUInt() else { return nil }
        return (client, clock)
    }
}
