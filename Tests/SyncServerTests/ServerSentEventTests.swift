import Testing
import Foundation
import SyncServer
import TestHarness
import TestBasics

@Suite("Server-sent events")
struct ServerSentEventTests {
    /// A stream with everything the providers send: blank lines first,
    /// comments, CRLF and LF line ends, a multi-line event, other fields.
    static let stream = "\n\r\n: keep-alive\n\ndata: {\"a\":1}\r\n\r\nevent: message\nid: 7\ndata: first\ndata:second\n\n: ping\r\ndata: [DONE]\n\n"
    static let events = ["{\"a\":1}", "first\nsecond", "[DONE]"]

    @Test("events are the same however the bytes are split")
    func randomSplits() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SeededRandom(seed: seed)
        let bytes = Array(Self.stream.utf8)
        for _ in 0..<500 {
            var parser = ServerSentEventParser()
            var out: [String] = []
            var at = 0
            while at < bytes.count {
                let n = Int(random.next() % 9)
                out += parser.feed(bytes[at..<min(bytes.count, at + n)])
                at += n
            }
            out += parser.finish()
            #expect(out == Self.events, "seed \(seed)")
        }
    }

    @Test("a CR at the end of one chunk and LF at the start of the next is one line end")
    func crlfAcrossChunks() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("data: x\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\n\r".utf8)) == ["x"])
        #expect(parser.feed(Array("\ndata: y\r\r".utf8)) == ["y"])
    }

    @Test("a stream that ends without its last blank line still gives its event")
    func unterminated() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("data: [DONE]".utf8)).isEmpty)
        #expect(parser.finish() == ["[DONE]"])
        #expect(parser.finish().isEmpty)
    }
}
