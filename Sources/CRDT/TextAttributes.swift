/// An attribute value as the formatting code sees it: the value plus the
/// format item it came from. JavaScript compares object values by identity,
/// and Yjs' cleanup relies on that; `source` lets us do the same.
struct AttrValue {
    var value: YAny
    var source: ObjectIdentifier?

    init(_ value: YAny, source: ObjectIdentifier? = nil) {
        self.value = value
        self.source = source
    }

    static let null = AttrValue(.null)

    private var isReference: Bool {
        switch value {
        case .object, .array, .bytes: return true
        default: return false
        }
    }

    /// JavaScript `===`.
    func identical(_ other: AttrValue) -> Bool {
        if isReference || other.isReference {
            return isReference && other.isReference && source != nil && source == other.source
        }
        return value == other.value
    }

    /// Yjs `equalAttrs`: identity, or flat equality of objects.
    func equalAttrs(_ other: AttrValue) -> Bool {
        if identical(other) { return true }
        if case .object = value, case .object = other.value { return value == other.value }
        return false
    }
}

/// An insertion-ordered string map, like a JavaScript `Map` or plain object.
struct OrderedAttrs {
    private(set) var keys: [String] = []
    private(set) var values: [AttrValue] = []

    var isEmpty: Bool { keys.isEmpty }
    var count: Int { keys.count }

    subscript(key: String) -> AttrValue? {
        get {
            for i in keys.indices where keys[i] == key { return values[i] }
            return nil
        }
        set {
            if let i = keys.firstIndex(of: key) {
                if let v = newValue { values[i] = v } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                }
            } else if let v = newValue {
                keys.append(key)
                values.append(v)
            }
        }
    }

    var pairs: [(String, AttrValue)] { Array(zip(keys, values)) }

    /// Applies a format marker: a null value removes the key.
    mutating func apply(_ key: String, _ value: AttrValue) {
        if case .null = value.value { self[key] = nil } else { self[key] = value }
    }
}
