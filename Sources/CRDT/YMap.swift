/// A shared map from string keys to values or nested types (Yjs `Y.Map`).
/// Concurrent sets of one key converge to the same winner everywhere; the
/// loser is reported in ``Transaction/conflicts``.
public struct YMap {
    let branch: Branch
    /// Keeps the document alive while this handle is: items refer to their
    /// document without owning it, so a handle outliving its `Doc` (as in
    /// `Doc(...).getText("t").toString()`) would otherwise read emptied content.
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    /// Number of keys with a value.
    public var count: Int { branch.map.values.reduce(0) { $0 + ($1.deleted ? 0 : 1) } }

    /// Keys with a value, sorted.
    public var keys: [String] { branch.mapKeys() }

    /// Whether `key` has a value.
    public func has(_ key: String) -> Bool { branch.mapItem(key) != nil }

    /// The plain value of `key` (nested types as JSON).
    public func get(_ key: String) -> YAny? { branch.mapItem(key)?.content.values().last }

    /// The nested value of `key` as a shared type, if it is one.
    public func get(_ key: String) -> YValue? { branch.mapItem(key).map { YValue(item: $0, valueIndex: $0.length - 1) } }

    /// Sets `key`.
    public func set(_ key: String, _ value: YInput) throws(CRDTError) {
        guard let doc = branch.doc else { throw CRDTError(.invalidValue, "map is not part of a document") }
        try branch.checkNesting(value)
        doc.transact { txn in branch.mapSet(txn, key: key, value: value) }
    }

    /// Sets `key` to a plain value.
    public func set(_ key: String, _ value: YAny) throws(CRDTError) { try set(key, .value(value)) }

    /// Deletes `key`; a missing key is a no-op.
    public func delete(_ key: String) throws(CRDTError) {
        guard let doc = branch.doc else { throw CRDTError(.invalidValue, "map is not part of a document") }
        doc.transact { txn in branch.mapDelete(txn, key: key) }
    }

    /// The whole map as JSON.
    public func toJSON() -> YAny { branch.toJSON() }
}

/// A shared array of values and nested types (Yjs `Y.Array`).
public struct YArray {
    let branch: Branch
    /// Keeps the document alive while this handle is: items refer to their
    /// document without owning it, so a handle outliving its `Doc` (as in
    /// `Doc(...).getText("t").toString()`) would otherwise read emptied content.
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    /// Number of elements.
    public var count: Int { branch.length }

    /// Inserts values at `index`.
    public func insert(_ index: Int, _ values: [YInput]) throws(CRDTError) {
        try branch.insertChecked(index, values)
    }

    /// Appends values after the last item, deleted ones included (Yjs `push`).
    public func push(_ values: [YInput]) throws(CRDTError) {
        guard !values.isEmpty else { return }
        guard let doc = branch.doc else { throw CRDTError(.invalidValue, "array is not part of a document") }
        for v in values { try branch.checkNesting(v) }
        doc.transact { txn in branch.pushSequence(txn, values) }
    }

    /// Deletes `count` elements from `index`.
    public func delete(_ index: Int, count n: Int) throws(CRDTError) {
        try branch.deleteChecked(index, n)
    }

    /// The element at `index` as a shared-type-aware value.
    public func get(_ index: Int) -> YValue? {
        guard let (item, offset) = branch.index.item(containing: index) else { return nil }
        return YValue(item: item, valueIndex: offset)
    }

    /// All elements as JSON.
    public func toJSON() -> YAny { branch.toJSON() }
}

/// A value read from a map or array: a nested shared type or plain data.
public enum YValue {
    case text(YText)
    case map(YMap)
    case array(YArray)
    case value(YAny)
    case xmlElement(YXmlElement)
    case xmlText(YXmlText)
    case xmlFragment(YXmlFragment)

    init(item: Item, valueIndex: Int) {
        if case .type(let b) = item.content {
            switch b.kind {
            case .text: self = .text(YText(branch: b))
            case .xmlText: self = .xmlText(YXmlText(branch: b))
            case .xmlElement: self = .xmlElement(YXmlElement(branch: b))
            case .xmlFragment: self = .xmlFragment(YXmlFragment(branch: b))
            case .map: self = .map(YMap(branch: b))
            default: self = .array(YArray(branch: b))
            }
        } else {
            let values = item.content.values()
            self = .value(valueIndex < values.count ? values[valueIndex] : .undefined)
        }
    }

    /// JSON of the value.
    public func toJSON() -> YAny {
        switch self {
        case .text(let t): return .string(t.toString())
        case .map(let m): return m.toJSON()
        case .array(let a): return a.toJSON()
        case .value(let v): return v
        case .xmlElement(let e): return .string(e.toString())
        case .xmlText(let t): return .string(t.toString())
        case .xmlFragment(let f): return .string(f.toString())
        }
    }
}
