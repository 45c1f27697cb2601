/// Splits a `text/event-stream` body into events' data, however the bytes
/// arrive: lines end with LF, CRLF or CR (a CRLF split between two chunks is
/// one line end); lines starting with `:` are comments (keep-alives); a blank
/// line ends an event, and blank lines with no data before them are nothing;
/// several `data:` lines of one event are joined with LF; other fields are
/// ignored. No I/O: fed by the HTTP client, tested on its own.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var data: [String] = []
    private var hasData = false
    private var afterCR = false

    public init() {}

    /// Feeds bytes; returns the data of every event they completed.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        var events: [String] = []
        for b in bytes {
            if afterCR {
                afterCR = false
                if b == 0x0A { continue }
            }
            switch b {
            case 0x0D:
                afterCR = true
                endLine(into: &events)
            case 0x0A:
                endLine(into: &events)
            default:
                line.append(b)
            }
        }
        return events
    }

    /// The data of an event the stream ended in without its blank line.
    public mutating func finish() -> [String] {
        var events: [String] = []
        if !line.isEmpty { endLine(into: &events) }
        if hasData { events.append(data.joined(separator: "\n")) }
        data = []
        hasData = false
        return events
    }

    private mutating func endLine(into events: inout [String]) {
        defer { line.removeAll(keepingCapacity: true) }
        guard !line.isEmpty else {
            if hasData { events.append(data.joined(separator: "\n")) }
            data = []
            hasData = false
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            var v = text[text.index(after: colon)...]
            if v.first == " " { v = v.dropFirst() }
            value = v
        } else {
            field = text[...]
            value = ""
        }
        if field == "data" {
            data.append(String(value))
            hasData = true
        }
    }
}
