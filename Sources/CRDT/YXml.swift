/// A node to insert into an XML fragment or element (Yjs prelim
/// `Y.XmlElement` / `Y.XmlText`).
public indirect enum YXmlNode: Sendable {
    /// An element with attributes (set in this order) and children.
    case element(String, attributes: [(String, YAny)] = [], children: [YXmlNode] = [])
    /// A text node.
    case text(String)

    var input: YInput {
        switch self {
        case .element(let name, let attributes, let children):
            return .xmlElement(name, attributes: attributes, children: children.map(\.input))
        case .text(let s):
            return .xmlText(s)
        }
    }
}

/// A child of an XML fragment or element.
public enum YXmlChild {
    case element(YXmlElement)
    case text(YXmlText)

    /// Its XML markup.
    public func toString() -> String {
        switch self {
        case .element(let e): e.toString()
        case .text(let t): t.toString()
        }
    }
}

/// Shared XML (Yjs `Y.XmlFragment`): an ordered list of elements and text
/// nodes, as rich-text editors such as ProseMirror keep their documents.
public struct YXmlFragment {
    let branch: Branch
    /// Keeps the document alive while this handle is (see ``YText``).
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    /// Number of children.
    public var count: Int { branch.length }

    /// Inserts nodes at `index`.
    public func insert(_ index: Int, _ nodes: [YXmlNode]) throws(CRDTError) {
        try branch.insertChecked(index, nodes.map(\.input))
    }

    /// Deletes `count` children from `index`.
    public func delete(_ index: Int, count: Int = 1) throws(CRDTError) {
        try branch.deleteChecked(index, count)
    }

    /// The child at `index`.
    public func get(_ index: Int) -> YXmlChild? { Self.children(branch).dropFirst(index).first }

    /// All children, in order.
    public var children: [YXmlChild] { Self.children(branch) }

    /// The children's markup, concatenated (Yjs `toString`).
    public func toString() -> String { branch.xmlString() }

    static func children(_ branch: Branch) -> [YXmlChild] {
        var out: [YXmlChild] = []
        var n = branch.start
        while let item = n {
            if item.isVisible, case .type(let b) = item.content {
                switch b.kind {
                case .xmlElement: out.append(.element(YXmlElement(branch: b)))
                case .xmlText: out.append(.text(YXmlText(branch: b)))
                default: break
                }
            }
            n = item.right
        }
        return out
    }
}

/// An XML element (Yjs `Y.XmlElement`): a node name, string attributes and
/// children.
public struct YXmlElement {
    let branch: Branch
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    /// The element's name as created.
    public var nodeName: String {
        if case .xmlElement(let name) = branch.kind { return name }
        return "UNDEFINED"
    }

    public var count: Int { branch.length }
    public func insert(_ index: Int, _ nodes: [YXmlNode]) throws(CRDTError) { try branch.insertChecked(index, nodes.map(\.input)) }
    public func delete(_ index: Int, count: Int = 1) throws(CRDTError) { try branch.deleteChecked(index, count) }
    public func get(_ index: Int) -> YXmlChild? { YXmlFragment.children(branch).dropFirst(index).first }
    public var children: [YXmlChild] { YXmlFragment.children(branch) }

    public func setAttribute(_ name: String, _ value: YAny) throws(CRDTError) {
        guard let doc = branch.doc else { throw CRDTError(.invalidValue, "XML element is not part of a document") }
        doc.transact { txn in branch.mapSet(txn, key: name, value: .value(value)) }
    }

    public func removeAttribute(_ name: String) throws(CRDTError) {
        guard let doc = branch.doc else { throw CRDTError(.invalidValue, "XML element is not part of a document") }
        doc.transact { txn in branch.mapDelete(txn, key: name) }
    }

    public func getAttribute(_ name: String) -> YAny? { branch.mapItem(name)?.content.values().last }

    /// Attributes by name, names sorted.
    public var attributes: [(String, YAny)] {
        branch.mapKeys().compactMap { k in branch.mapItem(k)?.content.values().last.map { (k, $0) } }
    }

    /// `<name attr="value">children</name>`, as Yjs writes it (lower-cased
    /// name, attributes sorted by name).
    public func toString() -> String { branch.xmlString() }
}

/// Text inside XML (Yjs `Y.XmlText`): rich text whose formatting attributes
/// read as enclosing tags.
public struct YXmlText {
    let branch: Branch
    let owner: Doc?

    init(branch: Branch) {
        self.branch = branch
        owner = branch.doc
    }

    /// The text API (insert, delete, format, delta) on this node.
    public var text: YText { YText(branch: branch) }

    /// The text with each formatting attribute as a tag around its run
    /// (Yjs `YXmlText.toString`).
    public func toString() -> String { branch.xmlString() }
}

extension Doc {
    /// The root XML fragment called `name`.
    public func getXmlFragment(_ name: String) -> YXmlFragment { YXmlFragment(branch: root(name, kind: .xmlFragment)) }
}

extension Branch {
    /// Yjs' `toString` of an XML type.
    func xmlString() -> String {
        switch kind {
        case .xmlText:
            return xmlTextString()
        case .xmlElement(let name):
            let attrs = mapKeys().sorted(by: Self.jsOrder).compactMap { k in
                mapItem(k)?.content.values().last.map { "\(k)=\"\(Self.jsString($0))\"" }
            }
            let tag = name.lowercased()
            return "<\(tag)\(attrs.isEmpty ? "" : " " + attrs.joined(separator: " "))>\(childrenXML())</\(tag)>"
        default:
            return childrenXML()
        }
    }

    private func childrenXML() -> String {
        var out = ""
        var n = start
        while let item = n {
            if item.isVisible {
                if case .type(let b) = item.content { out += b.xmlString() } else {
                    for v in item.content.values() { out += Self.jsString(v) }
                }
            }
            n = item.right
        }
        return out
    }

    private func xmlTextString() -> String {
        var out = ""
        for run in YText(branch: self).toDelta() {
            // Each attribute is a tag; an object value's keys are its attributes.
            let tags: [(String, [(String, YAny)])] = run.attributes.map { name, value in
                if case .object(let fields) = value { return (name, fields.sorted { Self.jsOrder($0.0, $1.0) }) }
                if case .string(let s) = value {
                    // JavaScript's for-in over a string lists its indexes.
                    return (name, s.map(String.init).enumerated().map { (String($0.offset), YAny.string($0.element)) })
                }
                return (name, [])
            }.sorted { Self.jsOrder($0.0, $1.0) }
            for (name, attrs) in tags {
                out += "<\(name)" + attrs.map { " \($0.0)=\"\(Self.jsString($0.1))\"" }.joined() + ">"
            }
            switch run.op {
            case .insert(let s): out += s
            case .insertEmbed(let v): out += Self.jsString(v)
            default: break
            }
            for (name, _) in tags.reversed() { out += "</\(name)>" }
        }
        return out
    }

    /// JavaScript's default string order (UTF-16 code units).
    static func jsOrder(_ a: String, _ b: String) -> Bool { a.utf16.lexicographicallyPrecedes(b.utf16) }

    /// A value as JavaScript's `String(value)` writes it.
    static func jsString(_ v: YAny) -> String {
        switch v {
        case .undefined: return "undefined"
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i), .bigint(let i): return String(i)
        case .number(let d): return JSONText.stringify(.number(d))
        case .string(let s): return s
        case .array(let items): return items.map { if case .null = $0 { "" } else if case .undefined = $0 { "" } else { jsString($0) } }.joined(separator: ",")
        default: return "[object Object]"
        }
    }
}
