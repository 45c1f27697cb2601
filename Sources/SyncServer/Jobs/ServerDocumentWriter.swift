public import CRDT
import SyncProtocol
public import Model
import Synchronization

/// The server's own edits to documents (a job's status and result): made
/// on a `Doc` built from the room's state, under a client id of this
/// process's own, and applied through the room like any update: stored,
/// relayed to live subscribers, and synced to offline clients later.
///
/// The client id is drawn at random when the process starts, never reused:
/// a process killed between relaying an edit and committing it may have
/// shown a subscriber a struct the store never got, and a restarted process
/// writing other content under the same id and clock would fork the
/// document. Edits to one document are made one at a time, so two jobs of
/// this process never write two different structs with the same id.
public final class ServerDocumentWriter: Sendable {
    /// The connection id the server's own edits come from (no socket has it).
    static let connection: ConnectionID = .max
    /// The user the store records for the server's own edits.
    public static let userID = "nest-server"

    private let registry: RoomRegistry
    /// The Yjs client id of this process's edits.
    public let clientID: Int
    private let locks = KeyedLocks()

    public init(registry: RoomRegistry, clientID: Int = ServerDocumentWriter.randomClientID()) {
        self.registry = registry
        self.clientID = clientID
    }

    /// A random 32-bit client id with the top bit set (clients of this
    /// project draw theirs below it; a stock Yjs peer may still draw one there).
    public static func randomClientID() -> Int { Int(UInt32.random(in: 0x8000_0000...UInt32.max)) }

    /// Why an edit could not be written.
    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `body` on the document's current state and writes what it changed
    /// as one update; returns whether there was anything to write.
    @discardableResult
    public func edit<T: Sendable>(_ name: DocumentName, _ body: @Sendable (Doc) throws -> T) async throws -> (wrote: Bool, value: T) {
        let id = name.description
        return try await locks.withLock(id) {
            let room = await registry.room(id)
            let state = try await room.syncStep2(for: [0])
            let doc = Doc(clientID: clientID)
            try doc.applyUpdate(state)
            var updates: [[UInt8]] = []
            doc.onUpdate { u, _ in updates.append(u) }
            let value = try body(doc)
            guard !updates.isEmpty else { return (false, value) }
            let update = updates.count == 1 ? updates[0] : try Updates.merge(updates)
            switch await room.apply(update, from: Self.connection, userID: Self.userID, role: .owner) {
            case .acked: return (true, value)
            case .refused(let code, let message): throw WriteError(description: "\(id) refused the server's edit: \(code.name) \(message)")
            }
        }
    }

    /// Reads the document's current state.
    public func read<T: Sendable>(_ name: DocumentName, _ body: @Sendable (Doc) throws -> T) async throws -> T {
        let room = await registry.room(name.description)
        let doc = Doc()
        try doc.applyUpdate(try await room.syncStep2(for: [0]))
        return try body(doc)
    }
}

/// One async lock per key: bodies with the same key run one after another.
final class KeyedLocks: Sendable {
    private let waiters = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let free = waiters.withLock { w -> Bool in
                if w[key] == nil {
                    w[key] = []
                    return true
                }
                w[key]?.append(c)
                return false
            }
            if free { c.resume() }
        }
    }

    private func release(_ key: String) {
        let next = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
            guard var queue = w[key], !queue.isEmpty else {
                w[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            w[key] = queue
            return first
        }
        next?.resume()
    }
}
