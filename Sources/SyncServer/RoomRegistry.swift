/// The open documents of one server: one ``DocumentRoom`` per document,
/// created on first use and dropped when its last subscriber leaves.
public actor RoomRegistry {
    private let store: any DocumentStore
    private var rooms: [String: DocumentRoom] = [:]

    public init(store: any DocumentStore) {
        self.store = store
    }

    /// The room of `documentID`, created if needed.
    public func room(_ documentID: String) -> DocumentRoom {
        if let r = rooms[documentID] { return r }
        let r = DocumentRoom(documentID: documentID, store: store)
        rooms[documentID] = r
        return r
    }

    /// Unsubscribes a connection and unloads the room if nobody is left.
    public func leave(_ documentID: String, connection: ConnectionID) async {
        guard let r = rooms[documentID] else { return }
        await r.unsubscribe(connection)
        if await r.subscriberCount == 0, rooms[documentID] === r {
            rooms[documentID] = nil
        }
    }
}
