/// A struct of the store, as shown by ``Doc/inspectStructs()``.
public struct StructInfo: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case item, gc }
    public var kind: Kind
    public var id: ID
    public var length: Int
    public var deleted: Bool
    /// Content kind (`string`, `any`, `type`, `deleted`, ...) for items.
    public var content: String

    public var description: String { "\(kind.rawValue)\(id)+\(length)\(deleted ? " deleted" : "") \(content)" }
}

extension Doc {
    /// Every struct of the store, clients in descending order, for
    /// inspection tools (`nest-server doc inspect`) and debugging. Shows no
    /// content, only its kind.
    public func inspectStructs() -> [StructInfo] {
        var out: [StructInfo] = []
        for client in store.clients.keys.sorted(by: >) {
            guard let list = store.list(client) else { continue }
            for s in list.all {
                let content: String
                switch s.content {
                case .gc: content = ""
                case .deleted: content = "deleted"
                case .json: content = "json"
                case .binary: content = "binary"
                case .string: content = "string"
                case .embed: content = "embed"
                case .format: content = "format"
                case .type: content = "type"
                case .any: content = "any"
                case .doc: content = "doc"
                }
                out.append(StructInfo(kind: s.isGC ? .gc : .item, id: s.id, length: s.length, deleted: s.deleted, content: content))
            }
        }
        return out
    }
}

extension Doc {
    /// Every root type with its kind (as declared, or guessed from content for
    /// roots no one declared here) and its JSON, for inspection tools.
    public func inspectRoots() -> [(name: String, kind: String, json: YAny)] {
        rootNames.compactMap { name in
            guard let b = roots[name] else { return nil }
            var kind: TypeKind = b.kind
            if kind == .undetermined {
                var n = b.start
                kind = b.map.isEmpty ? .array : .map
                while let item = n {
                    if case .string = item.content { kind = .text; break }
                    if case .format = item.content { kind = .text; break }
                    n = item.right
                }
            }
            switch kind {
            case .text, .xmlText: return (name, "text", .string(b.textString()))
            case .map: return (name, "map", b.toJSON())
            default: return (name, "array", .array(b.sequenceValues()))
            }
        }
    }
}
