import Foundation
import CRDT

/// `nest`: the headless ClientNest client. The sync client (local SQLite,
/// outbox, server connection) arrives with issue #4; today it offers the
/// offline merge demo on the CRDT engine.
let usage = """
    usage: nest <command>

    commands:
      demo        two offline replicas edit one post draft, then merge
      --version   print the version
      --help      this text
    """

func demo() throws {
    // Two devices start from the same draft.
    let phone = Doc(clientID: 1)
    let web = Doc(clientID: 2)
    var phoneUpdates: [[UInt8]] = []
    var webUpdates: [[UInt8]] = []
    phone.onUpdate { update, txn in if txn.local { phoneUpdates.append(update) } }
    web.onUpdate { update, txn in if txn.local { webUpdates.append(update) } }

    try phone.getMap("draft").set("title", "Spring launch")
    try phone.getText("caption").insert(0, "New colours are here.")
    for u in phoneUpdates { try web.applyUpdate(u) }
    phoneUpdates.removeAll()
    print("synced:  title=\(web.getMap("draft").get("title") as YAny? ?? .null)  caption=\"\(web.getText("caption").toString())\"")

    // Offline on both sides: concurrent edits to the caption and the title.
    try phone.getText("caption").insert(0, "🌸 ")
    try phone.getMap("draft").set("title", "Spring launch 🌸")
    let webCaption = web.getText("caption")
    try webCaption.insert(webCaption.length, " Shop now.")
    try webCaption.format(0, length: 3, attributes: ["bold": true])
    try web.getMap("draft").set("title", "Spring collection")
    print("offline: phone caption=\"\(phone.getText("caption").toString())\"")
    print("offline: web   caption=\"\(web.getText("caption").toString())\"")

    // Reconnect: exchange updates in both directions.
    var conflicts: [(String, MapConflict)] = []
    phone.onAfterTransaction { txn in conflicts += txn.conflicts.map { ("phone", $0) } }
    web.onAfterTransaction { txn in conflicts += txn.conflicts.map { ("web", $0) } }
    for u in webUpdates { try phone.applyUpdate(u) }
    for u in phoneUpdates { try web.applyUpdate(u) }
    let a = phone.getText("caption").toString()
    let b = web.getText("caption").toString()
    print("merged:  caption=\"\(a)\" (both replicas equal: \(a == b))")
    print("merged:  title=\(phone.getMap("draft").get("title") as YAny? ?? .null) (equal: \(phone.getMap("draft").toJSON() == web.getMap("draft").toJSON()))")
    for (replica, c) in conflicts {
        print("conflict seen by \(replica) on \(c.key): kept \(c.winner) (client \(c.winnerClient)), dropped \(c.loser) (client \(c.loserClient))")
    }
    let state = try phone.encodeStateAsUpdate()
    print("state:   \(state.count) bytes (Yjs update v1), state vector \(phone.stateVector.sorted { $0.key < $1.key })")
    guard a == b else { throw CRDTError(.invalidStructure, "replicas diverged") }
}

switch CommandLine.arguments.dropFirst().first {
case "demo":
    do { try demo() } catch {
        FileHandle.standardError.write(Data("nest: \(error)\n".utf8))
        exit(1)
    }
case "--version":
    print("nest 0.1.0")
case "--help", "-h", nil:
    print(usage)
default:
    FileHandle.standardError.write(Data("nest: unknown command\n\(usage)\n".utf8))
    exit(2)
}
