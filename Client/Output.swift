import Foundation
import SyncClient

/// Terminal output: tables, relative times, JSON, notes on stderr (so
/// stdout stays parseable with --json).
enum Output {
    /// Where a document's local edits stand: refused (with the server's reason), pending, or synced.
    static func syncState(of name: String, in store: LocalStore) throws -> String {
        if let r = try store.refused().first(where: { $0.document == name }) {
            return "refused — \(r.code): \(r.text) (these edits are not on the server)"
        }
        let pending = try store.pending(document: name).count
        return pending > 0 ? "pending — \(count(pending, "edit")) wait for the server" : "synced"
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }

    /// A line on stdout, written at once (live output is not held in a buffer).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data("\(text)\n".utf8))
    }

    /// "1 edit", "3 edits": a count with its noun in the right number.
    static func count(_ n: Int, _ noun: String, plural: String? = nil) -> String {
        "\(n) \(n == 1 ? noun : plural ?? noun + "s")"
    }

    /// One compact JSON object per line, for streaming output.
    static func jsonLine(_ value: [String: String]) {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? e.encode(value) { line(String(decoding: data, as: UTF8.self)) }
    }

    static func json<T: Encodable>(_ value: T) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try e.encode(value), as: UTF8.self))
    }

    /// A left-aligned table with a header row; cells are cut to `maxWidth`.
    static func table(_ header: [String], _ rows: [[String]], maxWidth: Int = 48) {
        let cut = rows.map { $0.map { $0.count > maxWidth ? String($0.prefix(maxWidth - 1)) + "…" : $0 } }
        var widths = header.map(\.count)
        for r in cut { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(header))
        for r in cut { print(line(r)) }
    }

    /// "just now", "5 min ago", "3 h ago", "2 days ago", or "in 4 h".
    static func relative(_ date: Date, now: Date = Date()) -> String {
        let s = now.timeIntervalSince(date)
        let a = abs(s)
        let text: String
        if a < 45 { return "just now" } else if a < 3600 { text = "\(Int(a / 60)) min" } else if a < 86400 { text = "\(Int(a / 3600)) h" } else {
            let d = Int(a / 86400)
            text = "\(d) day\(d == 1 ? "" : "s")"
        }
        return s >= 0 ? "\(text) ago" : "in \(text)"
    }

    static func relative(iso: String) -> String {
        guard let d = try? Date.ISO8601FormatStyle().parse(iso) else { return iso }
        return relative(d)
    }

    /// One line of text for a table cell.
    static func oneLine(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: " ⏎ ") }
}
